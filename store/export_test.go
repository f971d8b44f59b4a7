package store

// SetRecordLimit lowers the length of a journal line readers accept, for the
// duration of a test that is not parallel.
func SetRecordLimit(n int) (restore func()) {
	old := recordLimit
	recordLimit = n
	return func() { recordLimit = old }
}
