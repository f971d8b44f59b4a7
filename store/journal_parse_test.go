package store

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseSeeds are journal lines of every shape: what appendRecord writes, and
// what only encoding/json reads (or refuses).
var parseSeeds = []string{
	`{"i":0,"s":"succeeded"}`,
	`{"i":7,"s":"failed","a":3,"e":"boom","p":true,"d":123456789,"x":-3,"t":1700000000000000000,"oc":"timed out"}`,
	`{"i":1,"s":"succeeded","a":1,"c":true,"o":"AAEC+iI=","t":1}`,
	`{"i":1,"s":"succeeded","o":""}`,
	`{"i":1,"s":"succeeded","o":null}`,
	`{"i":1,"s":"succeeded","o":"AAE"}`,
	`{"i":1,"s":"succeeded","o":"A\nAE="}`,
	`{"i":9223372036854775807,"t":-9223372036854775808}`,
	`{"i":9223372036854775808}`,
	`{"i":-0,"a":01}`,
	`{"i":1.0}`,
	`{"i":1e3}`,
	`{"I":1,"S":"failed","OC":"lost"}`,
	`{"ſ":"failed"}`,
	`{"i":1,"i":2}`,
	`{"x":1,"x":null}`,
	`{"e":"\u00e9\"<>&","s":"fa\u0069led"}`,
	`{"e":"é"}`,
	"{\"e\":\"\xff\"}",
	"{\"e\":\"a\x01\"}",
	` {"i":1} `,
	`{"i":1}x`,
	`{"i":1,}`,
	`{"i":1`,
	`{"p":tru}`,
	`{"p":null,"c":false}`,
	`{"zz":[1,{"a":2}],"i":3}`,
	`[]`,
	`null`,
	`{}`,
	``,
	`{"i":"1"}`,
	`{"s":1}`,
}

// FuzzDecodeRecord: decodeRecord is encoding/json.Unmarshal into a Record,
// for any line: the same record, and an error exactly when it errs.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ln []byte) {
		var got, want Record
		gerr := decodeRecord(ln, &got)
		werr := json.Unmarshal(ln, &want)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: decodeRecord error %v, encoding/json %v", ln, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", ln, got, want)
		}
	})
}

// FuzzRecordRoundTrip: what appendRecord writes, decodeRecord and
// encoding/json both read back as the record written, and the fast path
// reads it unless a string needs escapes.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add(7, "failed", 3, "boom", true, int64(5), false, true, -3, []byte{0, 1, 250}, int64(1700000000000000000), "timed out")
	f.Add(0, "succeeded", 0, "", false, int64(0), true, false, 0, []byte{}, int64(0), "")
	f.Add(math.MaxInt, "é\n", -1, "\"<tag>\"", false, int64(math.MinInt64), false, true, math.MinInt, []byte(nil), int64(-1), "\x00")
	f.Fuzz(func(t *testing.T, i int, s string, a int, e string, p bool, d int64, c, hasX bool, x int, o []byte, tm int64, oc string) {
		r := Record{Index: i, Status: Status(s), Attempts: a, Err: e, Permanent: p, DurationNS: d, Cached: c, Output: o, Time: tm, Outcome: Outcome(oc)}
		if hasX {
			r.ExitCode = &x
		}
		if len(r.Output) == 0 {
			r.Output = nil // omitempty: an empty output is not written
		}
		line := appendRecord(nil, &r)
		var got, want Record
		if err := decodeRecord(line[:len(line)-1], &got); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatalf("%s: encoding/json: %v", line, err)
		}
		// Invalid UTF-8 reads back as U+FFFD, as JSON has it.
		valid := utf8.ValidString(s) && utf8.ValidString(e) && utf8.ValidString(oc)
		if !reflect.DeepEqual(got, want) || valid && !reflect.DeepEqual(got, r) {
			t.Fatalf("%s:\n decodeRecord %#v\nencoding/json %#v\n      written %#v", line, got, want, r)
		}
		plain := func(s string) bool {
			for k := 0; k < len(s); k++ {
				if c := s[k]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
					return false
				}
			}
			return true
		}
		var fast Record
		if plain(s) && plain(e) && plain(oc) && !new(recordDecoder).fast(line[:len(line)-1], &fast) {
			t.Fatalf("%s: not read by the fast path", line)
		}
	})
}

// BenchmarkDecodeRecord compares decodeRecord with encoding/json on a
// typical line of a worker's journal.
func BenchmarkDecodeRecord(b *testing.B) {
	code := 0
	line := appendRecord(nil, &Record{Index: 123456, Status: StatusSucceeded, Attempts: 1, DurationNS: 1234, ExitCode: &code,
		Output: []byte("246912"), Time: 1700000000000000000, Outcome: OutcomeSucceeded})
	line = line[:len(line)-1]
	b.Run("decodeRecord", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r Record
			if err := decodeRecord(line, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzValidName: validName is the regular expression it replaced.
func FuzzValidName(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	for _, s := range []string{"a", "../x", "a/b", ".hidden", "-x", "x.y", "..", "a..", "_", "é", "a\n", strings.Repeat("z", 128), strings.Repeat("z", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), re.MatchString(s); got != want {
			t.Fatalf("validName(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
