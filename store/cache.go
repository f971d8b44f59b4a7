package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// CacheKey is the cache key of one element: sha256 (hex) over its task name,
// cache version, encoded bound value and encoded input, each prefixed with its
// length so that no two tuples share a key.
func CacheKey(task, version string, bound, input []byte) string {
	h := sha256.New()
	var b [8]byte
	for _, f := range [][]byte{[]byte(task), []byte(version), bound, input} {
		binary.LittleEndian.PutUint64(b[:], uint64(len(f)))
		h.Write(b[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cacheObject returns the object holding the cache entry key.
func cacheObject(key string) (string, error) {
	if len(key) != 64 {
		return "", fmt.Errorf("store: cache key %q: must be 64 lowercase hex digits", key)
	}
	for i := range len(key) {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("store: cache key %q: must be 64 lowercase hex digits", key)
		}
	}
	return "cache/" + key[:2] + "/" + key, nil
}

// CacheGet returns the encoded output cached under key (from CacheKey), or an
// error wrapping ErrNotFound.
func (s *Store) CacheGet(ctx context.Context, key string) ([]byte, error) {
	obj, err := cacheObject(key)
	if err != nil {
		return nil, err
	}
	if s.keyErr != nil {
		return nil, s.keyErr
	}
	data, err := s.readCapped(ctx, obj, "a cache entry", MaxOutputSize, macHeader)
	if err != nil {
		return nil, err
	}
	return s.unseal(obj, data)
}

// CachePut stores an encoded output under key (from CacheKey), replacing any
// entry there: entries under one key hold the same output.
func (s *Store) CachePut(ctx context.Context, key string, output []byte) error {
	obj, err := cacheObject(key)
	if err != nil {
		return err
	}
	if len(output) > MaxOutputSize {
		return fmt.Errorf("store: cache entry %s: %d bytes, more than the %d the store keeps", key, len(output), MaxOutputSize)
	}
	if s.keyErr != nil {
		return s.keyErr
	}
	return s.write(ctx, obj, s.seal(obj, output))
}
