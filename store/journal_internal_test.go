package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The hand-written journal encoder writes what encoding/json reads back, for
// every field and for strings that need escaping.
func TestAppendRecordRoundTrip(t *testing.T) {
	code := -3
	for _, r := range []Record{
		{Index: 0, Status: StatusSucceeded},
		{Index: 7, Status: StatusFailed, Attempts: 3, Err: "boom: \"quoted\" \\ back\nslash <tag> & é \x01", Permanent: true,
			DurationNS: 123456789, ExitCode: &code, Time: 1700000000000000000, Outcome: "timed out"},
		{Index: 1 << 40, Status: StatusSucceeded, Cached: true, Output: []byte{0, 1, 2, 250, '"'}, Attempts: 1},
	} {
		line := appendRecord(nil, &r)
		var back Record
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", line, back, r)
		}
	}
}
