//go:build !unix

package store

import (
	"os"
	"path/filepath"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// openDirBucket opens the directory dir (absolute), creating it 0700 when
// missing. Without the unix *at system calls, symbolic links below the root
// are not refused and ownership is left alone.
func openDirBucket(dir string) (*blob.Bucket, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, "", err
	}
	b, err := fileblob.OpenBucket(resolved, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite, DirFileMode: 0o700})
	return b, resolved, err
}
