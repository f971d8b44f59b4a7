#!/usr/bin/env bash
# The figures of issue 15, in one run:
#   1. an in-process map of trivial ints at 1M and 10M elements: maptask vs
#      errgroup vs conc/pool vs a bare pool of goroutines (the floor): time,
#      CPU, bytes per element, peak RSS, and ratios; MapSeq's peak RSS over
#      10M elements with DiscardResults (bench/cmd/floor);
#   2. status and resume of a finished durable execution of 1M elements:
#      time, CPU and peak RSS, beside reading its whole journal
#      (bench/cmd/store).
#
#   bench/floor.sh                               # SIZES=1000000,10000000 SEQ=10000000 BIG=1000000
#   SIZES=1000000 SEQ=1000000 BIG=200000 bench/floor.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-1000000,10000000}
seq=${SEQ:-10000000}
big=${BIG:-1000000}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/maptask-floor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/floor" ./bench/cmd/floor
go build -o "$tmp/store" ./bench/cmd/store

echo "== 1. in-process maps: maptask, errgroup, conc/pool, the floor; MapSeq"
"$tmp/floor" -sizes "$sizes" -seq "$seq" -rounds "$rounds"

echo
echo "== 2. status and resume of a finished durable execution of $big elements"
"$tmp/store" -ls "" -n "$big"
