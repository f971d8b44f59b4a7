#!/usr/bin/env bash
# Maps 2,000 trivial commands (`true`) at concurrency 8 through `maptask run`
# (durable store on, as always), `xargs -P 8` and GNU `parallel -j 8`, in the
# same run, and prints maptask's time as a ratio of each peer's.
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

# best of $rounds wall-clock seconds for a command
best() {
	local b=""
	for _ in $(seq "$rounds"); do
		local s e t
		s=$(date +%s.%N)
		"$@" >/dev/null 2>&1
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

run_maptask() {
	rm -rf "$work/store"
	"$work/maptask" run -j 8 --progress never --store "$work/store" --input-file "$work/inputs" -- true
}
run_xargs() { xargs -P 8 -n 1 true <"$work/inputs"; }
run_parallel() { parallel -j 8 true :::: "$work/inputs"; }

m=$(best run_maptask)
x=$(best run_xargs)
p=$(best run_parallel)
printf '%d x `true` at concurrency 8 (best of %d)\n' "$n" "$rounds"
printf '  maptask run   %6.3f s   (durable store on)\n' "$m"
printf '  xargs -P 8    %6.3f s\n' "$x"
printf '  parallel -j 8 %6.3f s\n' "$p"
printf '  maptask / xargs    = %.2f (goal <= 1.5)\n' "$(echo "$m / $x" | bc -l)"
printf '  parallel / maptask = %.2f (goal >= 2)\n' "$(echo "$p / $m" | bc -l)"
