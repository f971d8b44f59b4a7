package backend_test

import (
	"testing"

	"github.com/maptask/maptask/backend"
)

func TestParseQuantity(t *testing.T) {
	for _, c := range []struct {
		q      string
		suffix string
		value  float64
	}{
		{"2", "", 2}, {"500m", "m", 0.5}, {".5", "", 0.5}, {"1.5Gi", "Gi", 1.5 * (1 << 30)}, {"2G", "G", 2e9},
		{"1k", "k", 1000}, {"3Ki", "Ki", 3072}, {"1E", "E", 1e18}, {"1Ei", "Ei", 1 << 60}, {"0", "", 0}, {"3000m", "m", 3}, {"1500m", "m", 1.5},
	} {
		_, suffix, value, ok := backend.ParseQuantity(c.q)
		if !ok || suffix != c.suffix || value != c.value {
			t.Errorf("ParseQuantity(%q) = %q, %v, %v; want %q, %v", c.q, suffix, value, ok, c.suffix, c.value)
		}
	}
	for _, bad := range []string{"", "-1", "+1", "1e3", "1.", "1Gb", "1 Gi", "Gi", "1g", "1K", "1.2.3", "m"} {
		if _, _, _, ok := backend.ParseQuantity(bad); ok {
			t.Errorf("ParseQuantity(%q) accepted", bad)
		}
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"2", "500m", "1.5Gi", "1Ei", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, _, v, ok := backend.ParseQuantity(q)
		if ok && (n < 0 || v < 0) {
			t.Fatalf("%q: negative %v, %v", q, n, v)
		}
	})
}
