package backend

import (
	"regexp"
	"strconv"
	"sync"
)

// quantityRE is the Kubernetes quantity syntax Resources take: a decimal
// number and a suffix, decimal (m k M G T P E) or binary (Ki Mi Gi Ti Pi Ei).
// Signs and exponents ("1e3"), which Kubernetes also reads, are refused.
var quantityRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
}) // compiled when first used, not at every worker's start

// quantityScale is what each suffix multiplies by.
var quantityScale = map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}

// ParseQuantity reads a quantity of Resources ("500m", "2", "1.5Gi"): its
// number, its suffix ("" for none), and its value (the number times what the
// suffix stands for). ok is false for anything else.
func ParseQuantity(q string) (number float64, suffix string, value float64, ok bool) {
	m := quantityRE().FindStringSubmatch(q)
	if m == nil {
		return 0, "", 0, false
	}
	number, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, "", 0, false
	}
	if m[2] == "m" {
		return number, m[2], number / 1000, true // exact for whole milli-units: 3000m is 3, not 3.0000000000000004
	}
	return number, m[2], number * quantityScale[m[2]], true
}
