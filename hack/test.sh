#!/usr/bin/env bash
# The project's test command (make test): starts the real services the tests
# need (an S3-compatible server and a single-node Slurm, on loopback), runs
# gofmt, go vet and go test -race over every package, and stops the services.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bad=$(gofmt -l .)
if [ -n "$bad" ]; then
	echo "gofmt needed:"; echo "$bad"; exit 1
fi
go vet ./...
trap 'hack/s3.sh stop || true; hack/slurm.sh stop || true' EXIT
eval "$(hack/s3.sh start)"
eval "$(hack/slurm.sh start)"
go test -race -count=1 "$@" ./...
