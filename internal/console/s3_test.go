//go:build s3

package console_test

// Linked with -tags s3 only, for TestLiveUpdateCost on an S3 store.
import _ "github.com/maptask/maptask/store/s3"
