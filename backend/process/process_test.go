package process_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/process"
)

// TestMain makes this test binary its own worker: a process the backend starts
// runs its elements inside maptask.Init and exits.
func TestMain(m *testing.M) {
	maptask.Init()
	goleak.VerifyTestMain(m)
	os.Exit(0)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return process.New() })
}
