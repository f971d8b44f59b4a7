package durable

import (
	"fmt"
	"strings"

	"github.com/maptask/maptask/store"
)

// specDiff names the fields in which a stored execution differs from this map.
func specDiff(old, cur *store.Spec) string {
	var d []string
	add := func(field, was, now string) {
		if was != now {
			d = append(d, fmt.Sprintf("%s %q, now %q", field, was, now))
		}
	}
	add("task", old.Task, cur.Task)
	add("cache version", old.CacheVersion, cur.CacheVersion)
	add("codec", old.Codec, cur.Codec)
	if old.N != cur.N {
		d = append(d, fmt.Sprintf("%d inputs, now %d", old.N, cur.N))
	} else if old.InputsDigest != cur.InputsDigest {
		d = append(d, "the same number of inputs with different values")
	}
	if old.BoundDigest != cur.BoundDigest {
		d = append(d, "a different bound value")
	}
	return strings.Join(d, "; ")
}
