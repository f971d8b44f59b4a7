package store

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// decodeRecord decodes one journal line into r exactly as encoding/json's
// Unmarshal does, without reflection: reading the journal is on the path of
// every resume, every status, and every batch a remote backend collects (the
// driver of a 1M-element execution spent 61% of a resume in encoding/json
// here, which scans each line twice).
//
// The fast path reads the lines appendRecord writes, and a little more: the
// known keys in any order, each at most once, no whitespace, plain integers,
// strings of printable ASCII without escapes. Anything else (whitespace,
// escapes, unknown or differently cased keys, null, floats, duplicates, and
// every malformed line) goes to encoding/json, so the result and the error
// are always encoding/json's (FuzzDecodeRecord checks it).
func decodeRecord(ln []byte, r *Record) error {
	var d recordDecoder
	return d.decode(ln, r)
}

// recordDecoder decodes the lines of one journal object (decodeRecord). It
// carves the outputs and exit codes of the records it decodes out of larger
// blocks, a few allocations for many records; each output's capacity ends
// with it, so appending to one never writes into another.
type recordDecoder struct {
	bytes []byte // free space for outputs
	ints  []int  // free exit codes
}

// decode is decodeRecord.
func (d *recordDecoder) decode(ln []byte, r *Record) error {
	if d.fast(ln, r) {
		return nil
	}
	*r = Record{}
	return json.Unmarshal(ln, r)
}

// output returns a buffer of n bytes.
func (d *recordDecoder) output(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if n > 1024 {
		return make([]byte, n)
	}
	if len(d.bytes) < n {
		d.bytes = make([]byte, 32<<10)
	}
	b := d.bytes[:n:n]
	d.bytes = d.bytes[n:]
	return b
}

// exitCode returns a new int holding v.
func (d *recordDecoder) exitCode(v int) *int {
	if len(d.ints) == 0 {
		d.ints = make([]int, 256)
	}
	p := &d.ints[0]
	d.ints = d.ints[1:]
	*p = v
	return p
}

// fast decodes ln into r when it has the simple form decodeRecord
// describes, and reports whether it did; r is garbage when it did not.
func (d *recordDecoder) fast(ln []byte, r *Record) bool {
	*r = Record{}
	n := len(ln)
	if n < 2 || ln[0] != '{' {
		return false
	}
	p := 1
	if ln[p] == '}' {
		return p+1 == n
	}
	var seen uint16
	for {
		// "key":
		if p >= n || ln[p] != '"' {
			return false
		}
		q := p + 1
		for q < n && ln[q] != '"' {
			q++
		}
		if q+1 >= n || ln[q+1] != ':' {
			return false
		}
		key := ln[p+1 : q]
		p = q + 2
		var bit uint16
		var ok bool
		switch string(key) {
		case "i":
			bit = 1 << 0
			var v int64
			v, p, ok = fastInt(ln, p)
			r.Index = int(v)
		case "s":
			bit = 1 << 1
			var s []byte
			s, p, ok = fastString(ln, p)
			r.Status = Status(internStatus(s))
		case "a":
			bit = 1 << 2
			var v int64
			v, p, ok = fastInt(ln, p)
			r.Attempts = int(v)
		case "e":
			bit = 1 << 3
			var s []byte
			s, p, ok = fastString(ln, p)
			r.Err = string(s)
		case "p":
			bit = 1 << 4
			r.Permanent, p, ok = fastBool(ln, p)
		case "d":
			bit = 1 << 5
			r.DurationNS, p, ok = fastInt(ln, p)
		case "c":
			bit = 1 << 6
			r.Cached, p, ok = fastBool(ln, p)
		case "x":
			bit = 1 << 7
			var v int64
			v, p, ok = fastInt(ln, p)
			r.ExitCode = d.exitCode(int(v))
		case "o":
			bit = 1 << 8
			var s []byte
			s, p, ok = fastString(ln, p)
			if ok {
				// As encoding/json: a buffer of DecodedLen, never nil.
				out := d.output(base64.StdEncoding.DecodedLen(len(s)))
				m, err := base64.StdEncoding.Decode(out, s)
				ok = err == nil
				r.Output = out[:m]
			}
		case "t":
			bit = 1 << 9
			r.Time, p, ok = fastInt(ln, p)
		case "oc":
			bit = 1 << 10
			var s []byte
			s, p, ok = fastString(ln, p)
			r.Outcome = Outcome(internOutcome(s))
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if p >= n {
			return false
		}
		switch ln[p] {
		case ',':
			p++
		case '}':
			return p+1 == n
		default:
			return false
		}
	}
}

// fastInt reads a JSON integer at p that fits an int64 (int is 64 bits
// wherever maptask runs; elsewhere every integer goes the slow way).
func fastInt(ln []byte, p int) (int64, int, bool) {
	neg := p < len(ln) && ln[p] == '-'
	if neg {
		p++
	}
	digits := p
	var u uint64
	for ; p < len(ln) && ln[p] >= '0' && ln[p] <= '9'; p++ {
		if u > (1<<63)/10 {
			return 0, p, false
		}
		u = u*10 + uint64(ln[p]-'0')
	}
	switch {
	case p == digits, p-digits > 1 && ln[digits] == '0', strconv.IntSize != 64:
		return 0, p, false // no digits, or a leading zero (not JSON)
	case p < len(ln) && (ln[p] == '.' || ln[p] == 'e' || ln[p] == 'E'):
		return 0, p, false // a float
	case neg && u <= 1<<63:
		return int64(-u), p, true // -(1<<63) included
	case !neg && u < 1<<63:
		return int64(u), p, true
	}
	return 0, p, false
}

// fastString reads a JSON string at p made of printable ASCII without
// escapes, and returns its contents.
func fastString(ln []byte, p int) ([]byte, int, bool) {
	if p >= len(ln) || ln[p] != '"' {
		return nil, p, false
	}
	p++
	start := p
	for ; p < len(ln); p++ {
		switch c := ln[p]; {
		case c == '"':
			return ln[start:p], p + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, p, false
		}
	}
	return nil, p, false
}

// fastBool reads true or false at p.
func fastBool(ln []byte, p int) (bool, int, bool) {
	switch {
	case len(ln)-p >= 4 && string(ln[p:p+4]) == "true":
		return true, p + 4, true
	case len(ln)-p >= 5 && string(ln[p:p+5]) == "false":
		return false, p + 5, true
	}
	return false, p, false
}

// internStatus returns s as a string, without allocating for the statuses
// the store writes.
func internStatus(s []byte) string {
	switch string(s) {
	case "succeeded":
		return "succeeded"
	case "failed":
		return "failed"
	case "skipped":
		return "skipped"
	case "running":
		return "running"
	}
	return string(s)
}

// internOutcome is internStatus for outcomes.
func internOutcome(s []byte) string {
	switch string(s) {
	case "succeeded":
		return "succeeded"
	case "failed":
		return "failed"
	case "timed out":
		return "timed out"
	case "lost":
		return "lost"
	case "cancelled":
		return "cancelled"
	}
	return string(s)
}
