package remote

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/maptask/maptask/backend"
)

// FormatAttempts writes attempts as EnvAttempts holds them: entries
// "index:attempt", and "first-last:attempt" for runs of consecutive elements
// with the same attempt number, separated by commas.
func FormatAttempts(attempts []backend.Attempt) string {
	var b strings.Builder
	for k := 0; k < len(attempts); {
		j := k
		for j+1 < len(attempts) && attempts[j+1].Index == attempts[j].Index+1 && attempts[j+1].Number == attempts[k].Number {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > k {
			fmt.Fprintf(&b, "%d-%d:%d", attempts[k].Index, attempts[j].Index, attempts[k].Number)
		} else {
			fmt.Fprintf(&b, "%d:%d", attempts[k].Index, attempts[k].Number)
		}
		k = j + 1
	}
	return b.String()
}

// ParseAttempts reads what FormatAttempts writes; every index must be below n,
// and there may be no more attempts than n. The list is checked whole before
// anything is allocated by it: a short entry naming a huge range costs nothing.
func ParseAttempts(list string, n int) ([]backend.Attempt, error) {
	type entry struct{ lo, hi, num int }
	parts := strings.Split(list, ",")
	entries := make([]entry, len(parts))
	total := 0
	for k, part := range parts {
		span, a, ok := strings.Cut(part, ":")
		first, last, isRange := strings.Cut(span, "-")
		lo, err1 := strconv.Atoi(first)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(last)
		}
		num, err3 := strconv.Atoi(a)
		if !ok || err1 != nil || err2 != nil || err3 != nil || lo < 0 || hi < lo || hi >= n || num < 1 {
			return nil, fmt.Errorf("bad entry %q (want index:attempt or first-last:attempt, indexes below %d)", part, n)
		}
		if total += hi - lo + 1; total > n { // hi-lo < n: no overflow
			return nil, fmt.Errorf("%d or more attempts for %d elements: an element appears twice", total, n)
		}
		entries[k] = entry{lo, hi, num}
	}
	out := make([]backend.Attempt, 0, total)
	for _, e := range entries {
		for i := e.lo; i <= e.hi; i++ {
			out = append(out, backend.Attempt{Index: i, Number: e.num})
		}
	}
	return out, nil
}

// ArrayEnv says which attempts each index of an array of workers runs: three
// numbers (EnvOffset, EnvBatch, EnvAttempt) when the indexes cover
// consecutive elements in equal batches with one attempt number (a first
// round, whatever its size), else one list per index (EnvTasks).
func ArrayEnv(tasks [][]backend.Attempt) map[string]string {
	first, batch, number := tasks[0][0].Index, len(tasks[0]), tasks[0][0].Number
	next := first
	uniform := true
	for k, t := range tasks {
		if len(t) != batch && k != len(tasks)-1 {
			uniform = false
			break
		}
		for _, a := range t {
			if a.Index != next || a.Number != number {
				uniform = false
				break
			}
			next++
		}
	}
	if uniform && len(tasks[len(tasks)-1]) == batch {
		return map[string]string{EnvOffset: strconv.Itoa(first), EnvBatch: strconv.Itoa(batch), EnvAttempt: strconv.Itoa(number)}
	}
	lists := make([]string, len(tasks))
	for i, t := range tasks {
		lists[i] = FormatAttempts(t)
	}
	return map[string]string{EnvTasks: strings.Join(lists, ";")}
}

// ArrayTasks reads back what ArrayEnv wrote for an array of n indexes: how a
// restarted driver learns what the workers it finds run.
func ArrayTasks(env map[string]string, n int) ([][]backend.Attempt, error) {
	if list, ok := env[EnvTasks]; ok {
		parts := strings.Split(list, ";")
		if len(parts) != n {
			return nil, fmt.Errorf("%d task lists for %d indexes", len(parts), n)
		}
		out := make([][]backend.Attempt, n)
		for i, p := range parts {
			a, err := ParseAttempts(p, math.MaxInt)
			if err != nil {
				return nil, err
			}
			out[i] = a
		}
		return out, nil
	}
	first, err1 := strconv.Atoi(env[EnvOffset])
	batch, err2 := strconv.Atoi(env[EnvBatch])
	number, err3 := strconv.Atoi(env[EnvAttempt])
	if err1 != nil || err2 != nil || err3 != nil || batch < 1 {
		return nil, fmt.Errorf("no task list in its environment")
	}
	out := make([][]backend.Attempt, n)
	for i := range out {
		for k := range batch {
			out[i] = append(out[i], backend.Attempt{Index: first + i*batch + k, Number: number})
		}
	}
	return out, nil
}
