package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// LoadRecords and ListExecutions read concurrently: none of it may outlive a
// call. The S3 client's idle keep-alive connections are the HTTP transport's,
// not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}
