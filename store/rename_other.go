//go:build unix && !linux

package store

import "errors"

// renameNoReplace is not available: the caller checks, then renames.
func renameNoReplace(int, string, string) error { return errors.ErrUnsupported }
