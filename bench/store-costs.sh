#!/usr/bin/env bash
# The four figures of issue 16, in one run:
#   1. 100,000 elements on the process backend beside xargs plus a tiny
#      binary (bench/process.sh): medians and their ratio;
#   2. a finished durable execution of 1,000,000 elements: maptask status
#      (checkpoint and verdict) and resume (Map again, nothing to run), time
#      and peak RSS, beside the whole journal read record by record;
#   3. listing (maptask ls) 1k, 2k, 4k and 8k executions, and the time per
#      execution at each size;
#   4. a durable map of 100,000 ints in a file store as a ratio of the same
#      map in memory (bench/cmd/ratios).
#
#   bench/store-costs.sh                      # N=100000 BIG=1000000 ROUNDS=3
#   N=20000 BIG=200000 bench/store-costs.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
big=${BIG:-1000000}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptask-store-costs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/store" ./bench/cmd/store
go build -o "$tmp/ratios" ./bench/cmd/ratios

echo "== 1. process backend vs xargs + tiny binary"
N=$n ROUNDS=$rounds bench/process.sh

echo
echo "== 2. a finished durable execution of $big elements"
"$tmp/store" -ls "" -n "$big"

echo
echo "== 3. maptask ls"
"$tmp/store" -ls 1000,2000,4000,8000 -n 0 | tee "$tmp/ls"
# "ls of  1000 executions:  123ms ..." -> milliseconds per 1,000 executions
awk '{
	for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+(ms|s)$/) { t = $i; break }
	ms = (t ~ /ms$/) ? t + 0 : t * 1000
	printf "  %5d executions: %.1f ms per 1,000\n", $3, ms * 1000 / $3
}' "$tmp/ls"

echo
echo "== 4. durable vs in-memory"
"$tmp/ratios" -n 200000 -durable-n "$n" | sed -n '/^durable/,$p'
