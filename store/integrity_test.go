package store_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/maptask/maptask/store"
)

const (
	testKey  = "correct horse battery staple 42"
	otherKey = "0123456789abcdef0123456789abcdef"
)

// keyed runs f against a file and a mem store, with $MAPTASK_STORE_KEY set to
// key while f runs; reopen opens the same store again with the key then set.
func keyed(t *testing.T, f func(t *testing.T, b bundle, reopen func() *store.Store)) {
	for _, k := range kinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			t.Setenv(store.EnvKey, testKey)
			b := k.open(t)
			t.Cleanup(func() { b.st.Close(); b.raw.Close() })
			reopen := func() *store.Store {
				if b.dir == "" {
					return store.New(b.raw, "mem://")
				}
				st, err := store.Open(context.Background(), b.dir)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			f(t, b, reopen)
		})
	}
}

// refused checks that err is the integrity error naming obj, and that no
// message ever shows a key.
func refusedIntegrity(t *testing.T, op string, err error, obj string) {
	t.Helper()
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), "store object "+obj+" failed its integrity check: it was written without the key or modified") {
		t.Errorf("%s = %v, want an integrity error naming %s", op, err, obj)
	}
	if err != nil && (strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), otherKey)) {
		t.Errorf("%s: the key is in the error: %v", op, err)
	}
}

// commandSpec creates an execution of a command, with a bound value and a
// cache entry, and returns its spec and the cache key.
func commandSpec(t *testing.T, st *store.Store) (store.Spec, string) {
	t.Helper()
	spec, data, offsets := execution("cmd", `"a"`)
	spec.Command = []string{"echo", "hi", "caf\xe9"} // invalid UTF-8 survives the MAC
	if err := st.CreateExecution(context.Background(), spec, data, offsets, []byte(`{"argv":["echo","hi"]}`)); err != nil {
		t.Fatal(err)
	}
	key := store.CacheKey("t", "v", nil, []byte("a"))
	if err := st.CachePut(context.Background(), key, []byte(`"out"`)); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadSpec(context.Background(), "cmd")
	if err != nil {
		t.Fatal(err)
	}
	return *got, key
}

func cacheObj(key string) string { return "cache/" + key[:2] + "/" + key }

func rewrite(t *testing.T, raw *blob.Bucket, obj string, f func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	data, err := raw.ReadAll(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	changed := f(bytes.Clone(data))
	if bytes.Equal(changed, data) {
		t.Fatalf("%s unchanged", obj)
	}
	if err := raw.WriteAll(ctx, obj, changed, nil); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrityKeyRoundTrip: with a key, what the store writes it reads back.
func TestIntegrityKeyRoundTrip(t *testing.T) {
	keyed(t, func(t *testing.T, b bundle, reopen func() *store.Store) {
		ctx := context.Background()
		spec, key := commandSpec(t, b.st)
		st := reopen()
		got, err := st.LoadSpec(ctx, "cmd")
		if err != nil || !reflect.DeepEqual(*got, spec) {
			t.Fatalf("LoadSpec = %+v, %v; want %+v", got, err, spec)
		}
		if bound, err := st.ReadBound(ctx, "cmd"); err != nil || string(bound) != `{"argv":["echo","hi"]}` {
			t.Errorf("ReadBound = %q, %v", bound, err)
		}
		if out, err := st.CacheGet(ctx, key); err != nil || string(out) != `"out"` {
			t.Errorf("CacheGet = %q, %v", out, err)
		}
		// A keyed object is recognisable: spec.json has a "mac", binary
		// objects start with the magic.
		js, _ := b.raw.ReadAll(ctx, "executions/cmd/spec.json")
		entry, _ := b.raw.ReadAll(ctx, cacheObj(key))
		if !bytes.Contains(js, []byte(`"mac": "`)) || !bytes.HasPrefix(entry, []byte("\x00mtHMAC1")) || len(entry) != 8+32+5 {
			t.Errorf("spec %s, cache entry %q", js, entry)
		}
		// Without the key, it all reads as before, the MACs unchecked.
		t.Setenv(store.EnvKey, "")
		plain := reopen()
		if got, err := plain.LoadSpec(ctx, "cmd"); err != nil || !reflect.DeepEqual(*got, spec) {
			t.Errorf("LoadSpec without a key = %+v, %v", got, err)
		}
		if bound, err := plain.ReadBound(ctx, "cmd"); err != nil || string(bound) != `{"argv":["echo","hi"]}` {
			t.Errorf("ReadBound without a key = %q, %v", bound, err)
		}
		if out, err := plain.CacheGet(ctx, key); err != nil || string(out) != `"out"` {
			t.Errorf("CacheGet without a key = %q, %v", out, err)
		}
	})
}

// TestIntegrityKeyRefusesTampering: with the key, a spec whose command was
// changed, a bound value edited, a cache entry forged or moved from another
// key, are all refused naming the object; without a key they are accepted.
func TestIntegrityKeyRefusesTampering(t *testing.T) {
	keyed(t, func(t *testing.T, b bundle, reopen func() *store.Store) {
		ctx := context.Background()
		spec, key := commandSpec(t, b.st)
		specObj := "executions/cmd/spec.json"
		boundObj := "executions/cmd/" + spec.Inputs + ".bound"
		rewrite(t, b.raw, specObj, func(d []byte) []byte { return bytes.Replace(d, []byte(`"hi"`), []byte(`"pwned"`), 1) })
		rewrite(t, b.raw, boundObj, func(d []byte) []byte { return bytes.Replace(d, []byte(`"hi"`), []byte(`"pwned"`), 1) })
		other := store.CacheKey("t", "v", nil, []byte("b"))
		entry, _ := b.raw.ReadAll(ctx, cacheObj(key))
		if err := b.raw.WriteAll(ctx, cacheObj(other), entry, nil); err != nil { // a genuine entry, under another key
			t.Fatal(err)
		}
		forged := store.CacheKey("t", "v", nil, []byte("c"))
		if err := b.raw.WriteAll(ctx, cacheObj(forged), []byte(`"forged"`), nil); err != nil { // no MAC at all
			t.Fatal(err)
		}

		st := reopen()
		_, err := st.LoadSpec(ctx, "cmd")
		refusedIntegrity(t, "LoadSpec of a changed command", err, specObj)
		_, err = st.ReadInput(ctx, "cmd", 0)
		refusedIntegrity(t, "ReadInput under a changed spec", err, specObj)
		specs, bad, err := st.ScanExecutions(ctx)
		if err != nil || len(specs) != 0 || len(bad) != 1 {
			t.Errorf("ScanExecutions = %v, %v, %v", specs, bad, err)
		} else {
			refusedIntegrity(t, "ScanExecutions", bad[0].Err, specObj)
		}
		_, err = st.CacheGet(ctx, other)
		refusedIntegrity(t, "CacheGet of a moved entry", err, cacheObj(other))
		_, err = st.CacheGet(ctx, forged)
		refusedIntegrity(t, "CacheGet of an entry without a MAC", err, cacheObj(forged))

		// The spec put back, the bound value alone is refused.
		rewrite(t, b.raw, specObj, func(d []byte) []byte { return bytes.Replace(d, []byte(`"pwned"`), []byte(`"hi"`), 1) })
		st = reopen()
		if _, err := st.LoadSpec(ctx, "cmd"); err != nil {
			t.Fatalf("LoadSpec of the restored spec: %v", err)
		}
		_, err = st.ReadBound(ctx, "cmd")
		refusedIntegrity(t, "ReadBound of an edited bound value", err, boundObj)

		// A wrong key refuses everything.
		t.Setenv(store.EnvKey, otherKey)
		wrong := reopen()
		_, err = wrong.LoadSpec(ctx, "cmd")
		refusedIntegrity(t, "LoadSpec with the wrong key", err, specObj)
		_, err = wrong.CacheGet(ctx, key)
		refusedIntegrity(t, "CacheGet with the wrong key", err, cacheObj(key))

		// No key: no check, as before keys existed.
		t.Setenv(store.EnvKey, "")
		plain := reopen()
		if bound, err := plain.ReadBound(ctx, "cmd"); err != nil || !strings.Contains(string(bound), "pwned") {
			t.Errorf("ReadBound without a key = %q, %v", bound, err)
		}
		if out, err := plain.CacheGet(ctx, forged); err != nil || string(out) != `"forged"` {
			t.Errorf("CacheGet without a key = %q, %v", out, err)
		}
	})
}

// TestIntegrityKeyOnUnkeyedStore: objects written without a key fail their
// check once a key is set.
func TestIntegrityKeyOnUnkeyedStore(t *testing.T) {
	keyed(t, func(t *testing.T, b bundle, reopen func() *store.Store) {
		ctx := context.Background()
		t.Setenv(store.EnvKey, "")
		_, key := commandSpec(t, reopen())
		t.Setenv(store.EnvKey, testKey)
		st := reopen()
		_, err := st.LoadSpec(ctx, "cmd")
		refusedIntegrity(t, "LoadSpec", err, "executions/cmd/spec.json")
		_, err = st.CacheGet(ctx, key)
		refusedIntegrity(t, "CacheGet", err, cacheObj(key))
	})
}

// TestIntegrityKeyTooShort: a key under MinKeySize bytes is refused, without
// showing it.
func TestIntegrityKeyTooShort(t *testing.T) {
	t.Setenv(store.EnvKey, "short-secret")
	_, err := store.Open(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), store.EnvKey) || strings.Contains(err.Error(), "short-secret") {
		t.Errorf("Open with a short key = %v", err)
	}
	raw, _ := blob.OpenBucket(context.Background(), "mem://")
	st := store.New(raw, "mem://")
	defer st.Close()
	spec, data, offsets := execution("x", "a")
	if err := st.CreateExecution(context.Background(), spec, data, offsets, nil); err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Errorf("CreateExecution with a short key = %v", err)
	}
}
