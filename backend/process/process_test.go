package process_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/process"
	"github.com/maptask/maptask/internal/testenv"
)

// TestMain makes this test binary its own worker: a process the backend starts
// runs its elements inside maptask.Init and exits.
func TestMain(m *testing.M) {
	maptask.Init()
	// The S3 client's idle keep-alive connections belong to the HTTP transport.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
	os.Exit(0)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return process.New() })
}

// TestConformanceS3 runs the suite with the store in a real S3-compatible
// server: the driver and every worker process read and write through it.
func TestConformanceS3(t *testing.T) {
	testenv.S3URL(t) // fails under CI when the server is missing
	backendtest.RunWithStore(t, func(*testing.T) backend.Backend { return process.New() }, func(t *testing.T) string { return testenv.S3URL(t) })
}
