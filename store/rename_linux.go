package store

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to in the directory dir unless to exists
// (EEXIST); errors.ErrUnsupported when the file system cannot tell.
func renameNoReplace(dir int, from, to string) error {
	err := unix.Renameat2(dir, from, dir, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return errors.ErrUnsupported
	}
	return err
}
