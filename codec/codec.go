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
