package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// LoadRecords and ListExecutions read concurrently: none of it may outlive a call.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
