package codec

import "testing"

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
