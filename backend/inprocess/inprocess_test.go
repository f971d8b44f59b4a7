package inprocess_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/inprocess"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return inprocess.New() })
}
