package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLeaseSize bounds a lease object read.
const maxLeaseSize = 64 << 10

// leaseTries bounds how often AcquireLease looks again after losing a race.
const leaseTries = 50

func leasePrefix(id string) string { return execKey(id, "lease/") }

func leaseKey(id string, gen int) string { return fmt.Sprintf("%s%010d", leasePrefix(id), gen) }

// leaseFile is one generation of a lease: executions/<id>/lease/<generation>.
type leaseFile struct {
	Owner    LeaseOwner `json:"owner"`
	Acquired time.Time  `json:"acquired"`
	Expires  time.Time  `json:"expires"`
	Released bool       `json:"released,omitempty"`
}

// Lease is an execution's lease, held: see AcquireLease. Its methods are safe
// for concurrent use.
type Lease struct {
	s     *Store
	id    string
	gen   int
	owner LeaseOwner
	ttl   time.Duration

	mu       sync.Mutex
	acquired time.Time
	expires  time.Time
	released bool
}

// hostname is this machine's name, as leases record it.
var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// NewLeaseOwner describes the calling process as a lease owner: its host
// name, PID, the current time as Started, and a fresh random Token.
func NewLeaseOwner() LeaseOwner {
	return LeaseOwner{Host: hostname(), PID: os.Getpid(), Started: time.Now(), Token: newToken()}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AcquireLease takes the lease of execution id for owner, for ttl: one
// driver runs an execution at a time. The execution need not exist yet (take
// the lease, then create it). An owner without a Token is given a random one.
//
// The lease is free when nobody ever took it, when its holder released it,
// when it expired (its holder did not Renew it within ttl), or when its
// holder ran on this same machine (its Host is os.Hostname()) and its process
// is gone: its PID is not alive, is a zombie, or belongs to a process started
// after the holder's Started (the PID was reused; read from /proc on Linux).
// Otherwise AcquireLease returns a *LeaseHeldError (errors.As) naming the
// holder. An owner taking a lease it already holds (the same Token) renews
// it.
//
// The lease is a series of generations, one object each,
// executions/<id>/lease/<generation>, written create-only (IfNotExist: a
// hard link in a local directory, If-None-Match on S3): of drivers racing for
// a free lease, exactly one creates the next generation, and the newest
// generation is the lease. Its holder renews it by rewriting its own
// generation; a holder that finds a newer one has lost it (ErrLeaseLost).
// Older generations are deleted by whoever takes the lease over.
//
// Expiry compares the holder's clock (which wrote Expires) with the
// caller's: machines sharing a store must agree on the time to well within
// ttl.
func (s *Store) AcquireLease(ctx context.Context, id string, owner LeaseOwner, ttl time.Duration) (*Lease, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("store: execution %q: lease time %v: must be positive", id, ttl)
	}
	if owner.Token == "" {
		owner.Token = newToken()
	}
	for range leaseTries {
		gens, cur, err := s.readLease(ctx, id)
		if errors.Is(err, ErrNotFound) { // deleted since listed: taken over meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		gen := 0
		if len(gens) > 0 {
			gen = gens[len(gens)-1]
		}
		now := time.Now()
		if cur != nil && !cur.Released && cur.Owner.Token == owner.Token {
			l := &Lease{s: s, id: id, gen: gen, owner: owner, ttl: ttl, acquired: cur.Acquired}
			if err := l.Renew(ctx); err != nil {
				if errors.Is(err, ErrLeaseLost) {
					continue
				}
				return nil, err
			}
			return l, nil
		}
		if cur != nil && held(cur, now) {
			return nil, &LeaseHeldError{ID: id, Owner: cur.Owner, Since: cur.Acquired, Expires: cur.Expires}
		}
		file := leaseFile{Owner: owner, Acquired: now, Expires: now.Add(ttl)}
		js, err := json.Marshal(file)
		if err != nil {
			return nil, err
		}
		created, err := s.createOnly(ctx, leaseKey(id, gen+1), js)
		if err != nil {
			return nil, err
		}
		if !created { // another driver took it first: look again
			continue
		}
		for _, g := range gens { // the older generations are no one's
			_ = s.bucket.Delete(context.WithoutCancel(ctx), leaseKey(id, g))
		}
		return &Lease{s: s, id: id, gen: gen + 1, owner: owner, ttl: ttl, acquired: now, expires: file.Expires}, nil
	}
	return nil, fmt.Errorf("store: execution %q: could not take its lease in %d tries: drivers keep racing for it", id, leaseTries)
}

// held reports whether the lease generation cur still binds others at now.
func held(cur *leaseFile, now time.Time) bool {
	if cur.Released || !now.Before(cur.Expires) {
		return false
	}
	o := cur.Owner
	if o.Host != "" && o.Host == hostname() && o.PID > 0 && !processAlive(o.PID, o.Started) {
		return false
	}
	return true
}

// readLease lists the lease generations of execution id, in order, and reads
// the newest: cur is nil when there is none, or when it cannot be parsed (a
// lease nobody can hold). A newest generation gone since the listing is an
// error wrapping ErrNotFound.
func (s *Store) readLease(ctx context.Context, id string) (gens []int, cur *leaseFile, err error) {
	gens, err = s.leaseGens(ctx, id)
	if err != nil || len(gens) == 0 {
		return gens, nil, err
	}
	data, err := s.readCapped(ctx, leaseKey(id, gens[len(gens)-1]), "a lease", maxLeaseSize, 0)
	if err != nil {
		return nil, nil, err
	}
	var f leaseFile
	if json.Unmarshal(data, &f) != nil {
		return gens, nil, nil
	}
	return gens, &f, nil
}

// leaseGens lists the lease generations of execution id, in order.
func (s *Store) leaseGens(ctx context.Context, id string) ([]int, error) {
	prefix := leasePrefix(id)
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var gens []int
	for _, k := range keys { // in key order: zero-padded, so in number order
		name := strings.TrimPrefix(k, prefix)
		if len(name) != 10 || strings.Trim(name, "0123456789") != "" {
			continue // a write in progress
		}
		g, _ := strconv.Atoi(name)
		gens = append(gens, g)
	}
	return gens, nil
}

// check returns nil when l is still the newest generation of its lease, else
// an error wrapping ErrLeaseLost saying who holds it now.
func (l *Lease) check(ctx context.Context) error {
	gens, err := l.s.leaseGens(ctx, l.id)
	if err != nil {
		return err
	}
	newest := 0
	if len(gens) > 0 {
		newest = gens[len(gens)-1]
	}
	switch {
	case newest == l.gen:
		return nil
	case newest < l.gen:
		return fmt.Errorf("store: execution %q: %w: its lease (generation %d) was deleted", l.id, ErrLeaseLost, l.gen)
	}
	who := ""
	if _, cur, err := l.s.readLease(ctx, l.id); err == nil && cur != nil {
		who = fmt.Sprintf(" by %s/%d", cur.Owner.Host, cur.Owner.PID)
	}
	return fmt.Errorf("store: execution %q: %w: generation %d of its lease was taken%s", l.id, ErrLeaseLost, newest, who)
}

// write rewrites l's generation.
func (l *Lease) write(ctx context.Context, f leaseFile) error {
	js, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return l.s.write(ctx, leaseKey(l.id, l.gen), js)
}

// Renew extends the lease to ttl from now. When another driver took it over,
// it writes nothing and returns an error wrapping ErrLeaseLost: the caller
// must stop driving the execution. Renew at intervals well below ttl (a
// third of it, say): a lease not renewed in time may be taken over.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("store: execution %q: its lease was released", l.id)
	}
	if err := l.check(ctx); err != nil {
		return err
	}
	now := time.Now()
	if err := l.write(ctx, leaseFile{Owner: l.owner, Acquired: l.acquired, Expires: now.Add(l.ttl)}); err != nil {
		return err
	}
	l.expires = now.Add(l.ttl)
	return nil
}

// Release gives the lease up: its generation is marked released, and the
// next AcquireLease takes it at once. When another driver had taken it over,
// it writes nothing and returns an error wrapping ErrLeaseLost. Releasing
// twice is not an error.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := l.check(ctx); err != nil {
		return err
	}
	now := time.Now()
	if err := l.write(ctx, leaseFile{Owner: l.owner, Acquired: l.acquired, Expires: now, Released: true}); err != nil {
		return err
	}
	l.released, l.expires = true, now
	return nil
}

// ID returns the execution the lease is for.
func (l *Lease) ID() string { return l.id }

// Owner returns who holds the lease (with its Token).
func (l *Lease) Owner() LeaseOwner { return l.owner }

// Generation returns the lease's generation: 1 for the first driver of the
// execution, one more for each that took it over.
func (l *Lease) Generation() int { return l.gen }

// TTL returns how long a renewal lasts.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Expires returns when the lease ends unless renewed, as last written.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Driver returns who holds execution id's lease now, and false when no live
// driver does (none took it, it was released, it expired, or its process on
// this host is gone).
func (s *Store) Driver(ctx context.Context, id string) (LeaseOwner, bool, error) {
	if err := ValidateID(id); err != nil {
		return LeaseOwner{}, false, err
	}
	_, cur, err := s.readLease(ctx, id)
	if err != nil || cur == nil || !held(cur, time.Now()) {
		return LeaseOwner{}, false, err
	}
	return cur.Owner, true, nil
}
