package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// Input is one element's input: one value per input source (maptask run
// ... ::: a b ::: 1 2 gives the inputs [a 1], [a 2], [b 1], [b 2]).
//
// In JSON an Input of exactly one value is that value as a plain JSON string,
// byte for byte what codec.JSON writes for a string (a string that is not
// valid UTF-8 as {"$bytes":"<base64>"}): the inputs of executions stored when
// an input was a string decode unchanged, and their cache keys stay the same.
// Any other Input is a JSON array of such values.
type Input []string

// String is the input as one string: its values joined by one space. It is
// what {} stands for, and $MAPTASK_INPUT.
func (in Input) String() string {
	if len(in) == 1 {
		return in[0]
	}
	return strings.Join(in, " ")
}

// rawValue is how JSON keeps a value that is not valid UTF-8 (as codec.JSON
// does for a string).
type rawValue struct {
	Bytes []byte `json:"$bytes"`
}

func marshalValue(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return json.Marshal(rawValue{[]byte(s)})
	}
	return json.Marshal(s)
}

// MarshalJSON writes one value as a JSON string, several as an array.
func (in Input) MarshalJSON() ([]byte, error) {
	if len(in) == 1 {
		return marshalValue(in[0])
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range in {
		if i > 0 {
			b.WriteByte(',')
		}
		data, err := marshalValue(v)
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON string (one value) or an array of them; each
// value may also be {"$bytes":"<base64>"}.
func (in *Input) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return errors.New("command: empty JSON for an input")
	}
	switch data[0] {
	case 'n':
		if string(data) != "null" {
			break
		}
		*in = nil
		return nil
	case '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return err
		}
		vals := make(Input, len(raw))
		for i, r := range raw {
			if err := unmarshalValue(r, &vals[i]); err != nil {
				return err
			}
		}
		*in = vals
		return nil
	}
	var v string
	if err := unmarshalValue(data, &v); err != nil {
		return err
	}
	*in = Input{v}
	return nil
}

func unmarshalValue(data []byte, v *string) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var raw rawValue
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return errors.New("command: an input value must be a string or {\"$bytes\": base64}")
		}
		*v = string(raw.Bytes)
		return nil
	}
	return json.Unmarshal(data, v)
}
