package codec

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Strings that are not valid UTF-8 come back byte for byte; valid ones are
// encoded exactly as encoding/json does, so stored executions keep their digests.
func TestJSONKeepsBytes(t *testing.T) {
	for _, in := range []string{"\xff\xfeA", "plain", "", "é", "{\"$bytes\":\"x\"}"} {
		data, err := JSON.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if err := JSON.Unmarshal(data, &out); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if out != in {
			t.Errorf("%q came back as %q (stored %s)", in, out, data)
		}
	}
	if data, _ := JSON.Marshal("plain"); string(data) != `"plain"` {
		t.Errorf("a valid string is stored as %s", data)
	}
}

// FuzzJSONInt: the JSON codec reads an int, and writes one, as encoding/json
// does, whatever the bytes.
func FuzzJSONInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "12", "-12", "01", " 1", "1 ", "null", "1.0", "1e3", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-", "", `"1"`, "18446744073709551616"} {
		f.Add([]byte(s), int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, x int64) {
		for _, fresh := range []func() (any, any){
			func() (any, any) { a, b := 7, 7; return &a, &b },
			func() (any, any) { a, b := int64(7), int64(7); return &a, &b },
		} {
			got, want := fresh()
			gerr := JSON.Unmarshal(data, got)
			werr := json.Unmarshal(data, want)
			if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: codec %v (%v), encoding/json %v (%v)", data, reflect.ValueOf(got).Elem(), gerr, reflect.ValueOf(want).Elem(), werr)
			}
		}
		for _, v := range []any{int(x), x} {
			got, gerr := JSON.Marshal(v)
			want, werr := json.Marshal(v)
			if gerr != nil || werr != nil || string(got) != string(want) {
				t.Fatalf("Marshal(%v) = %q, %v; encoding/json %q, %v", v, got, gerr, want, werr)
			}
		}
	})
}
