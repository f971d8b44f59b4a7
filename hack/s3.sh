#!/usr/bin/env bash
# Starts a real S3-compatible server (versitygw, built with `go install`) on
# loopback, with a bucket for the tests, and prints the environment that points
# the tests at it:
#
#   eval "$(hack/s3.sh start)"    # exports MAPTASK_TEST_S3_URL and credentials
#   hack/s3.sh stop
#
# The server listens on 127.0.0.1 only; its data lives in a temporary directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.cache/bin"
state="$top/.cache/s3"
version=v1.8.0
port=${MAPTASK_S3_PORT:-17070}
access=maptask-test
secret=maptask-test-secret

start() {
	if [ ! -x "$bin/versitygw" ]; then
		echo "hack/s3.sh: building versitygw $version (once; cached in .cache/bin)" >&2
		GOBIN="$bin" go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
	fi
	stop >/dev/null 2>&1 || true
	mkdir -p "$state"
	data=$(mktemp -d "${TMPDIR:-/tmp}/maptask-s3.XXXXXX")
	mkdir -p "$data/maptask"
	echo "$data" >"$state/data"
	ROOT_ACCESS_KEY_ID=$access ROOT_SECRET_ACCESS_KEY=$secret \
		nohup "$bin/versitygw" --port "127.0.0.1:$port" posix "$data" >"$state/log" 2>&1 &
	echo $! >"$state/pid"
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1"
			echo "export MAPTASK_TEST_S3_URL='s3://maptask?endpoint=http://127.0.0.1:$port&region=us-east-1&use_path_style=true'"
			return 0
		fi
		sleep 0.1
	done
	echo "hack/s3.sh: versitygw did not start:" >&2
	cat "$state/log" >&2
	return 1
}

stop() {
	if [ -f "$state/pid" ]; then
		kill "$(cat "$state/pid")" 2>/dev/null || true
		rm -f "$state/pid"
	fi
	if [ -f "$state/data" ]; then
		rm -rf "$(cat "$state/data")"
		rm -f "$state/data"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: hack/s3.sh start|stop" >&2; exit 2 ;;
esac
