#!/usr/bin/env bash
# Maps a trivial Go task over 100,000 elements through the process backend
# (bench/cmd/process: worker processes, a durable file store) beside the plain
# way: `xargs -P 8 -n 500` over a tiny Go program that doubles its batch into a
# file (bench/cmd/process/tiny), then the files concatenated in input order.
# Rounds alternate the two; the medians and their ratio are printed.
#
#   bench/process.sh            # N=100000 J=8 ROUNDS=3
#   N=20000 ROUNDS=5 bench/process.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
j=${J:-8}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptask-bench-process.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/process" ./bench/cmd/process
go build -o "$tmp/tiny" ./bench/cmd/process/tiny
seq 0 $((n - 1)) >"$tmp/inputs"

# Each run appends "wall cpu" (seconds; cpu is user+system of the whole
# process tree) to a file: the machine may be shared, and CPU time says what
# each way costs whatever else runs.
timed() {
	local out=$1
	shift
	/usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@"
	awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$tmp/time" >>"$out"
}
baseline() {
	rm -rf "$tmp/out" && mkdir "$tmp/out"
	xargs -P "$j" -n 500 "$tmp/tiny" "$tmp/out" <"$tmp/inputs"
	(cd "$tmp/out" && ls | sort -n | xargs cat) >"$tmp/all"
}
check() {
	[ "$(wc -l <"$tmp/all")" -eq "$n" ] && [ "$(tail -n 1 "$tmp/all")" -eq $((2 * (n - 1))) ] || {
		echo "baseline: wrong output" >&2
		exit 1
	}
}
export -f baseline
export tmp j
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

: >"$tmp/m" && : >"$tmp/b"
for r in $(seq "$rounds"); do
	timed "$tmp/m" "$tmp/process" -n "$n" -j "$j" -seconds >/dev/null
	timed "$tmp/b" bash -c baseline
	check
done
mw=$(cut -d' ' -f1 "$tmp/m" | median) mc=$(cut -d' ' -f2 "$tmp/m" | median)
bw=$(cut -d' ' -f1 "$tmp/b" | median) bc=$(cut -d' ' -f2 "$tmp/b" | median)
echo "$n elements at concurrency $j, whole commands, medians of $rounds rounds (wall s, CPU s):"
printf '  maptask, process backend:         %.3f wall %.3f CPU   (%s)\n' "$mw" "$mc" "$(tr '\n' ',' <"$tmp/m")"
printf '  xargs -P %d -n 500 + tiny binary: %.3f wall %.3f CPU   (%s)\n' "$j" "$bw" "$bc" "$(tr '\n' ',' <"$tmp/b")"
printf '  ratio: %.2fx wall, %.2fx CPU\n' "$(echo "$mw / $bw" | bc -l)" "$(echo "$mc / $bc" | bc -l)"
"$tmp/process" -n "$n" -j "$j" | sed 's/^/  /'
