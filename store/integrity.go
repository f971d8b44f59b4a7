package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// EnvKey names the environment variable holding the store's integrity key
// (see the package doc). New and Open read it; remote workers read it from
// their own environment, like the driver.
const EnvKey = "MAPTASK_STORE_KEY"

// MinKeySize is the shortest integrity key accepted, in bytes.
const MinKeySize = 16

// ErrIntegrity is returned (wrapped, naming the object) when, with a key
// configured, an object that must carry a MAC has none or a wrong one.
var ErrIntegrity = errors.New("failed its integrity check")

// macMagic starts a binary object written with a key; the HMAC-SHA256 of the
// object follows it, then the payload.
const macMagic = "\x00mtHMAC1"

// macHeader is the length of what a key adds before a binary object.
const macHeader = 8 + sha256.Size // len(macMagic) + the MAC

// keyFromEnv returns the key in $MAPTASK_STORE_KEY, nil when it is unset. The
// key is never part of an error.
func keyFromEnv() ([]byte, error) {
	k := os.Getenv(EnvKey)
	if k == "" {
		return nil, nil
	}
	if len(k) < MinKeySize {
		return nil, fmt.Errorf("store: %s is too short: an integrity key needs at least %d bytes (for instance 64 hex digits from 'openssl rand -hex 32')", EnvKey, MinKeySize)
	}
	return []byte(k), nil
}

// mac is the HMAC-SHA256, under the store's key, of payload as the object
// named obj: an object moved to another key fails its check.
func (s *Store) mac(obj string, payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("maptask-store-v1\x00"))
	h.Write([]byte(obj))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum(nil)
}

// integrityError is the error for an object that failed its check.
func integrityError(obj string) error {
	return fmt.Errorf("store: store object %s %w: it was written without the key or modified", obj, ErrIntegrity)
}

// seal returns the binary object obj holding payload: payload itself without
// a key, else macMagic, the MAC and payload.
func (s *Store) seal(obj string, payload []byte) []byte {
	if s.key == nil {
		return payload
	}
	out := make([]byte, 0, macHeader+len(payload))
	out = append(out, macMagic...)
	out = append(out, s.mac(obj, payload)...)
	return append(out, payload...)
}

// unseal returns the payload of the binary object obj read as data. With a
// key, its MAC must be there and right. Without one, a MAC is dropped
// unchecked.
func (s *Store) unseal(obj string, data []byte) ([]byte, error) {
	sealed := len(data) >= macHeader && string(data[:len(macMagic)]) == macMagic
	switch {
	case s.key == nil && sealed:
		return data[macHeader:], nil
	case s.key == nil:
		return data, nil
	case !sealed:
		return nil, integrityError(obj)
	}
	payload := data[macHeader:]
	if !hmac.Equal(data[len(macMagic):macHeader], s.mac(obj, payload)) {
		return nil, integrityError(obj)
	}
	return payload, nil
}

// specFile is spec.json: the spec, and with a key its MAC.
type specFile struct {
	Spec
	MAC string `json:"mac,omitempty"`
}

// specMAC is the MAC of spec as the object obj, over its canonical JSON: the
// compact encoding of the spec as it reads back, so that what a writer
// computes a reader computes again (encoding/json rewrites invalid UTF-8).
func (s *Store) specMAC(obj string, spec *Spec) (string, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	var back Spec
	if err := json.Unmarshal(js, &back); err != nil {
		return "", err
	}
	canon, err := json.Marshal(&back)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s.mac(obj, canon)), nil
}

// checkSpec checks the MAC of a spec read from obj, when there is a key.
func (s *Store) checkSpec(obj string, f *specFile) error {
	if s.key == nil {
		return nil
	}
	want, err := s.specMAC(obj, &f.Spec)
	if err != nil || f.MAC == "" || !hmac.Equal([]byte(want), bytes.ToLower([]byte(f.MAC))) {
		return integrityError(obj)
	}
	return nil
}
