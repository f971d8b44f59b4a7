#!/usr/bin/env bash
# The project's test command (make test): starts the real services the tests
# need (an S3-compatible server on loopback), runs gofmt, go vet and
# go test -race over every package, and stops the services.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bad=$(gofmt -l .)
if [ -n "$bad" ]; then
	echo "gofmt needed:"; echo "$bad"; exit 1
fi
go vet ./...
eval "$(hack/s3.sh start)"
trap 'hack/s3.sh stop' EXIT
go test -race -count=1 "$@" ./...
