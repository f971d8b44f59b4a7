#!/usr/bin/env bash
# The project's test command (make test): starts the real services the tests
# need (an S3-compatible server, a single-node Slurm and a single-node
# Kubernetes with a registry, on loopback), runs gofmt, go vet and go test
# -race over every package, and stops the services.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bad=$(gofmt -l .)
if [ -n "$bad" ]; then
	echo "gofmt needed:"; echo "$bad"; exit 1
fi
go vet ./...
# Race-built programs sleep 1 s at exit (the race runtime's atexit_sleep_ms):
# every worker process a test starts paid it. Tests' workers exit at once.
export GORACE="atexit_sleep_ms=0${GORACE:+ $GORACE}"
trap 'hack/s3.sh stop || true; hack/slurm.sh stop || true; hack/kube.sh stop || true' EXIT
eval "$(hack/s3.sh start)"
eval "$(hack/slurm.sh start)"
eval "$(hack/kube.sh start)"
# Headless Chromium for the console's browser tests (internal/console).
export MAPTASK_CHROMIUM="$(hack/chromium.sh)"
# The Kubernetes tests build static workers and wait for pods: allow them time.
go test -race -count=1 -timeout 30m "$@" ./...
# The fault suite (faults/): the CLI and a process-backend program under
# injected faults, with its figures (FIGURE lines) in the output.
go test -tags faults -count=1 -timeout 15m -v ./faults/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|FIGURE|faults_test.go'

