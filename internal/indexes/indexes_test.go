package indexes

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string][]int{
		"":            nil,
		"7":           {7},
		"0,3-5,9":     {0, 3, 4, 5, 9},
		"2-2":         {2},
		"x,1,4-y,5-3": {1},
	} {
		if got := Parse(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %v, want %v", in, got, want)
		}
	}
}
