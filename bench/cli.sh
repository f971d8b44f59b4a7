#!/usr/bin/env bash
# Maps 2,000 trivial commands (`true`) at concurrency 8 through `maptask run`
# (durable store on, as always), `xargs -P 8` and GNU `parallel -j 8`, in the
# same run, with standard output to /dev/null and to a file, and 1,000 `echo`
# commands in input order (maptask -k, parallel -k); prints maptask's time as
# a ratio of each peer's.
# Goals: <= 1.5x xargs, >= 2x faster than GNU parallel.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-2000}
rounds=${ROUNDS:-3}
if ! command -v parallel >/dev/null || ! command -v bc >/dev/null; then
	echo "bench/cli.sh: installing GNU parallel and bc" >&2
	(apt-get update -qq && apt-get install -y -qq parallel bc) >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/maptask" "$top/cmd/maptask"
seq "$n" >"$work/inputs"

# best of $rounds wall-clock seconds for a command, its standard output to $out
out=/dev/null
best() {
	local b=""
	for _ in $(seq "$rounds"); do
		local s e t
		s=$(date +%s.%N)
		"$@" >"$out" 2>/dev/null
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

run_maptask() {
	rm -rf "$work/store"
	"$work/maptask" run -j 8 --progress never --store "$work/store" --input-file "$work/inputs" "$@"
}
run_xargs() { xargs -P 8 -n 1 "$@" <"$work/inputs"; }
run_parallel() { parallel -j 8 "$@" :::: "$work/inputs"; }

report() { # title maptask xargs parallel
	printf '%s (best of %d)\n' "$1" "$rounds"
	printf '  maptask run   %6.3f s   (durable store on)\n' "$2"
	if [ -n "$3" ]; then
		printf '  xargs -P 8    %6.3f s\n' "$3"
	fi
	printf '  parallel -j 8 %6.3f s\n' "$4"
	if [ -n "$3" ]; then
		printf '  maptask / xargs    = %.2f (goal <= 1.5)\n' "$(echo "$2 / $3" | bc -l)"
	fi
	printf '  parallel / maptask = %.2f (goal >= 2)\n' "$(echo "$4 / $2" | bc -l)"
}

out=/dev/null
report "$n x \`true\` at concurrency 8, output to /dev/null" "$(best run_maptask -- true)" "$(best run_xargs true)" "$(best run_parallel true)"
out=$work/out
report "$n x \`true\` at concurrency 8, output to a file" "$(best run_maptask -- true)" "$(best run_xargs true)" "$(best run_parallel true)"

seq "${ECHO_N:-1000}" >"$work/inputs"
out=$work/out
m=$(best run_maptask -k -- echo)
p=$(best parallel -j 8 -k echo :::: "$work/inputs")
# The same lines in the same order from both.
run_maptask -k -- echo >"$work/m.out" 2>/dev/null
parallel -j 8 -k echo :::: "$work/inputs" >"$work/p.out"
cmp -s "$work/m.out" "$work/p.out" || { echo "bench/cli.sh: maptask -k and parallel -k printed different output" >&2; exit 1; }
report "${ECHO_N:-1000} x \`echo\` in input order (-k), output to a file" "$m" "" "$p"
