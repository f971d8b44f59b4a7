package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"gocloud.dev/gcerrors"
)

// ErrNotWritable is wrapped by CheckWritable's error.
var ErrNotWritable = errors.New("is not writable")

// CheckWritable writes a small object, probe/<random>, and deletes it: an
// error, naming the store and saying it is not writable, when either fails
// (a read-only file system or mount, missing permissions or credentials, a
// full disk). A driver calls it before it starts a map, so that it fails at
// once rather than at its first journal write.
func (s *Store) CheckWritable(ctx context.Context) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := "probe/" + hex.EncodeToString(rnd[:])
	if err := s.writeAll(ctx, key, []byte("maptask write probe\n"), false); err != nil {
		return fmt.Errorf("store: %s %w: writing %s: %w", s.url, ErrNotWritable, key, unwrapOwn(err))
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("store: %s %w: deleting %s: %w", s.url, ErrNotWritable, key, unwrapOwn(err))
	}
	return nil
}

// unwrapOwn returns the error a local store made itself inside err, when
// there is one (see ownError), else err.
func unwrapOwn(err error) error {
	if own := ownError(err); own != nil {
		return own
	}
	return err
}
