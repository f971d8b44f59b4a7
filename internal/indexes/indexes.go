// Package indexes reads the index lists schedulers print: "0,3-5,9" (a
// Kubernetes Job's completedIndexes, a Slurm array's task ids).
package indexes

import (
	"strconv"
	"strings"
)

// Parse returns the indexes of a list of numbers and inclusive ranges,
// separated by commas, in the order written. Parts that are not numbers or
// ranges are skipped.
func Parse(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}
