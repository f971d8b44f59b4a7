// Package codec turns task inputs, outputs and bound values into bytes and back.
//
// Every value that crosses a process boundary or lands in a store goes through a
// Codec. JSON is the default because it is readable in the store and stable across
// Go versions; register another (gob, protobuf, msgpack) with Register and select it
// with maptask.WithCodec.
package codec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Codec encodes and decodes values. Implementations must be safe for concurrent use
// and deterministic: the same value must always encode to the same bytes, because
// encoded inputs are hashed for caching and for recognising a resumed execution.
type Codec interface {
	// Name identifies the codec in stored executions, so that a worker decodes
	// with the codec the driver encoded with.
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default codec, backed by encoding/json. A string value that is
// not valid UTF-8 (a file name, a line of a binary file), which encoding/json
// would quietly change into replacement characters, is kept byte for byte as
// {"$bytes":"<base64>"}; every other value is plain JSON.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

// rawString is how JSON keeps a string that is not valid UTF-8.
type rawString struct {
	Bytes []byte `json:"$bytes"`
}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(v any) ([]byte, error) {
	switch s := v.(type) {
	case int: // the bytes encoding/json writes, without reflection
		return strconv.AppendInt(make([]byte, 0, 8), int64(s), 10), nil
	case int64:
		return strconv.AppendInt(make([]byte, 0, 8), s, 10), nil
	case string:
		if !utf8.ValidString(s) {
			return json.Marshal(rawString{[]byte(s)})
		}
	case *string:
		if s != nil && !utf8.ValidString(*s) {
			return json.Marshal(rawString{[]byte(*s)})
		}
	}
	return json.Marshal(v)
}

func (jsonCodec) Unmarshal(data []byte, v any) error {
	// A plain integer into an int: what encoding/json does, without
	// reflection; anything else (spaces, null, a float, too large) goes to
	// encoding/json (FuzzJSONInt checks they agree).
	switch p := v.(type) {
	case *int:
		if x, ok := plainInt(data); ok && strconv.IntSize == 64 {
			*p = int(x)
			return nil
		}
	case *int64:
		if x, ok := plainInt(data); ok {
			*p = x
			return nil
		}
	}
	if s, ok := v.(*string); ok && len(data) > 0 && data[0] == '{' {
		var raw rawString
		if err := json.Unmarshal(data, &raw); err != nil {
			return err
		}
		*s = string(raw.Bytes)
		return nil
	}
	return json.Unmarshal(data, v)
}

var (
	mu       sync.RWMutex
	registry = map[string]Codec{"json": JSON}
)

// Register makes c available by its name to workers and to resumed executions.
// It panics if another codec already has that name, so that a name always means
// one encoding.
func Register(c Codec) {
	mu.Lock()
	defer mu.Unlock()
	if old, ok := registry[c.Name()]; ok && old != c {
		panic(fmt.Sprintf("maptask: codec %q registered twice", c.Name()))
	}
	registry[c.Name()] = c
}

// Lookup returns the codec registered under name.
func Lookup(name string) (Codec, error) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("maptask: codec %q is not registered in this program (codec.Register it)", name)
	}
	return c, nil
}

// plainInt reads data when it is a JSON integer alone, -?(0|[1-9][0-9]*),
// that fits an int64.
func plainInt(data []byte) (int64, bool) {
	p := 0
	neg := len(data) > 0 && data[0] == '-'
	if neg {
		p++
	}
	digits := p
	var u uint64
	for ; p < len(data); p++ {
		c := data[p]
		if c < '0' || c > '9' || u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case p == digits, p-digits > 1 && data[digits] == '0':
		return 0, false
	case neg && u <= 1<<63:
		return int64(-u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}
