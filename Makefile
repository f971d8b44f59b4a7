# The test command the README names and CI runs.
GO ?= go
PKGS := ./...

.PHONY: test vet fmt bench ratios fuzz faults

# Starts the real services the tests need (hack/), then vet, gofmt and go test -race.
test:
	hack/test.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/

ratios:
	$(GO) run ./bench/cmd/ratios

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzVerdict -fuzztime 60s ./internal/engine

# The fault suite alone (make test runs it too): needs root (tmpfs mounts) and
# versitygw in .cache/bin (hack/s3.sh start builds it).
faults:
	$(GO) test -tags faults -count=1 -v ./faults/
