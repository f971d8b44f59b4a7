package durable

import (
	"testing"

	"github.com/maptask/maptask/store"
)

func TestSpecDiff(t *testing.T) {
	base := store.Spec{Task: "t", CacheVersion: "v1", Codec: "json", N: 3, InputsDigest: "a", BoundDigest: "b"}
	for _, tc := range []struct {
		name string
		edit func(*store.Spec)
		want string
	}{
		{"same", func(*store.Spec) {}, ""},
		{"task", func(s *store.Spec) { s.Task = "u" }, `task "t", now "u"`},
		{"count", func(s *store.Spec) { s.N, s.InputsDigest = 4, "c" }, "3 inputs, now 4"},
		{"values", func(s *store.Spec) { s.InputsDigest = "c" }, "the same number of inputs with different values"},
		{"several", func(s *store.Spec) { s.CacheVersion, s.Codec, s.BoundDigest = "v2", "gob", "" },
			`cache version "v1", now "v2"; codec "json", now "gob"; a different bound value`},
	} {
		cur := base
		tc.edit(&cur)
		if got := specDiff(&base, &cur); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
