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

now() { date +%s.%N; }
baseline() {
	rm -rf "$tmp/out" && mkdir "$tmp/out"
	local start end
	start=$(now)
	xargs -P "$j" -n 500 "$tmp/tiny" "$tmp/out" <"$tmp/inputs"
	(cd "$tmp/out" && ls | sort -n | xargs cat) >"$tmp/all"
	end=$(now)
	[ "$(wc -l <"$tmp/all")" -eq "$n" ] && [ "$(tail -n 1 "$tmp/all")" -eq $((2 * (n - 1))) ] || {
		echo "baseline: wrong output" >&2
		exit 1
	}
	echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

: >"$tmp/m" && : >"$tmp/b"
for r in $(seq "$rounds"); do
	"$tmp/process" -n "$n" -j "$j" -seconds >>"$tmp/m"
	baseline >>"$tmp/b"
done
m=$(median <"$tmp/m")
b=$(median <"$tmp/b")
echo "$n elements at concurrency $j, medians of $rounds rounds:"
printf '  maptask, process backend:         %.3f s  (%s)\n' "$m" "$(tr '\n' ' ' <"$tmp/m")"
printf '  xargs -P %d -n 500 + tiny binary: %.3f s  (%s)\n' "$j" "$b" "$(tr '\n' ' ' <"$tmp/b")"
printf '  ratio: %.2fx\n' "$(echo "$m / $b" | bc -l)"
"$tmp/process" -n "$n" -j "$j" | sed 's/^/  /'
