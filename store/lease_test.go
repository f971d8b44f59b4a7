package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maptask/maptask/store"
)

// race has every owner try AcquireLease at once, and returns the leases won
// and the errors of the others.
func race(t *testing.T, st *store.Store, id string, owners []store.LeaseOwner, ttl time.Duration) ([]*store.Lease, []error) {
	t.Helper()
	var (
		mu    sync.Mutex
		won   []*store.Lease
		lost  []error
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for _, o := range owners {
		wg.Go(func() {
			<-start
			l, err := st.AcquireLease(context.Background(), id, o, ttl)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lost = append(lost, err)
			} else {
				won = append(won, l)
			}
		})
	}
	close(start)
	wg.Wait()
	return won, lost
}

// heldBy checks that err is a *LeaseHeldError naming owner.
func heldBy(t *testing.T, err error, id string, owner store.LeaseOwner) {
	t.Helper()
	var held *store.LeaseHeldError
	if !errors.As(err, &held) {
		t.Fatalf("AcquireLease = %v, want a *LeaseHeldError", err)
	}
	if held.ID != id || !sameOwner(held.Owner, owner) || held.Since.IsZero() || !held.Expires.After(held.Since) {
		t.Errorf("LeaseHeldError %+v, want owner %+v", held, owner)
	}
	want := fmt.Sprintf("execution %s is being run by %s/%d since ", id, owner.Host, owner.PID)
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, "; wait, or `maptask cancel "+id+"`") {
		t.Errorf("message %q, want %q...; wait, or `maptask cancel %s`", msg, want, id)
	}
}

func sameOwner(a, b store.LeaseOwner) bool {
	return a.Host == b.Host && a.PID == b.PID && a.Token == b.Token && a.Started.Equal(b.Started)
}

func owners(n int) []store.LeaseOwner {
	o := make([]store.LeaseOwner, n)
	for i := range o {
		o[i] = store.NewLeaseOwner()
	}
	return o
}

// TestLeaseRace: of 20 drivers racing for a free lease, and then for the
// same lease once expired, exactly one wins; the others learn who.
func TestLeaseRace(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for round := range 3 {
			id := fmt.Sprintf("race-%d", round)
			won, lost := race(t, b.st, id, owners(20), time.Hour)
			if len(won) != 1 || len(lost) != 19 {
				t.Fatalf("round %d: %d won, %d lost: %v", round, len(won), len(lost), lost)
			}
			for _, err := range lost {
				heldBy(t, err, id, won[0].Owner())
			}
			if won[0].Generation() != 1 {
				t.Errorf("first lease has generation %d", won[0].Generation())
			}
		}
		// An expired lease: again one winner, and the old holder has lost it.
		first, err := b.st.AcquireLease(ctx, "expiring", store.NewLeaseOwner(), 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		won, lost := race(t, b.st, "expiring", owners(20), time.Hour)
		if len(won) != 1 || len(lost) != 19 {
			t.Fatalf("takeover: %d won, %d lost: %v", len(won), len(lost), lost)
		}
		if won[0].Generation() != 2 {
			t.Errorf("takeover has generation %d, want 2", won[0].Generation())
		}
		if err := first.Renew(ctx); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("Renew after takeover = %v, want ErrLeaseLost", err)
		}
		// Only the newest generation is kept.
		if keys := listKeys(t, b.raw, "executions/expiring/lease/"); len(keys) != 1 || !strings.HasSuffix(keys[0], "/0000000002") {
			t.Errorf("lease objects after takeover: %v", keys)
		}
	})
}

// TestLeaseLifecycle: renewing keeps a lease past its ttl; release frees it
// at once; a holder that lost it can neither renew nor release it.
func TestLeaseLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		a, bo := store.NewLeaseOwner(), store.NewLeaseOwner()
		const ttl = 400 * time.Millisecond
		la, err := b.st.AcquireLease(ctx, "x", a, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if la.ID() != "x" || !sameOwner(la.Owner(), a) || la.TTL() != ttl || !la.Expires().After(time.Now()) {
			t.Errorf("lease %s %+v %v %v", la.ID(), la.Owner(), la.TTL(), la.Expires())
		}
		for range 4 { // 800 ms, twice the ttl
			time.Sleep(ttl / 4)
			if err := la.Renew(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := b.st.AcquireLease(ctx, "x", bo, ttl)
			heldBy(t, err, "x", a)
		}
		// The same owner asking again gets its lease back.
		again, err := b.st.AcquireLease(ctx, "x", a, ttl)
		if err != nil || again.Generation() != la.Generation() {
			t.Fatalf("re-acquire by its holder: %v, %v", again, err)
		}
		if err := la.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := la.Release(ctx); err != nil {
			t.Errorf("second Release: %v", err)
		}
		if err := la.Renew(ctx); err == nil {
			t.Error("Renew after Release succeeded")
		}
		lb, err := b.st.AcquireLease(ctx, "x", bo, time.Hour)
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		if err := again.Release(ctx); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("Release by a holder that lost it = %v, want ErrLeaseLost", err)
		}
		if err := again.Renew(ctx); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("Renew by a holder that lost it = %v, want ErrLeaseLost", err)
		}
		if err := lb.Renew(ctx); err != nil {
			t.Errorf("Renew by the new holder: %v", err)
		}
		if _, err := b.st.AcquireLease(ctx, "x", a, 0); err == nil {
			t.Error("a ttl of 0 was accepted")
		}
		if _, err := b.st.AcquireLease(ctx, "../x", a, ttl); err == nil {
			t.Error("a bad id was accepted")
		}
	})
}

// TestLeaseDeadOwner: a lease whose holder ran on this machine is free once
// its process is gone (exited, a zombie, or its PID reused by a process
// started later); a holder on another machine keeps it until it expires.
func TestLeaseDeadOwner(t *testing.T) {
	ctx := context.Background()
	b := kinds[0].open(t)
	defer b.st.Close()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	sleeper := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	take := func(id string, o store.LeaseOwner) {
		t.Helper()
		if _, err := b.st.AcquireLease(ctx, id, o, time.Hour); err != nil {
			t.Fatal(err)
		}
	}

	// Exited.
	cmd := sleeper()
	holder := store.LeaseOwner{Host: host, PID: cmd.Process.Pid, Started: time.Now(), Token: "t-exited"}
	take("exited", holder)
	_, err = b.st.AcquireLease(ctx, "exited", store.NewLeaseOwner(), time.Hour)
	heldBy(t, err, "exited", holder)
	cmd.Process.Kill()
	cmd.Wait()
	if l, err := b.st.AcquireLease(ctx, "exited", store.NewLeaseOwner(), time.Hour); err != nil || l.Generation() != 2 {
		t.Fatalf("taking over from a dead process: %v, %v", l, err)
	}

	// A zombie: killed, not yet waited for.
	cmd = sleeper()
	holder = store.LeaseOwner{Host: host, PID: cmd.Process.Pid, Started: time.Now(), Token: "t-zombie"}
	take("zombie", holder)
	cmd.Process.Kill()
	for range 500 {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.st.AcquireLease(ctx, "zombie", store.NewLeaseOwner(), time.Hour); err != nil {
		t.Fatalf("taking over from a zombie: %v", err)
	}

	// A PID now used by a process that started after the holder did.
	cmd = sleeper()
	take("reused", store.LeaseOwner{Host: host, PID: cmd.Process.Pid, Started: time.Now().Add(-time.Hour), Token: "t-reused"})
	if _, err := b.st.AcquireLease(ctx, "reused", store.NewLeaseOwner(), time.Hour); err != nil {
		t.Fatalf("taking over from a reused PID: %v", err)
	}

	// Another machine: its PID means nothing here.
	cmd = sleeper()
	cmd.Process.Kill()
	cmd.Wait()
	holder = store.LeaseOwner{Host: host + "-elsewhere", PID: cmd.Process.Pid, Started: time.Now(), Token: "t-elsewhere"}
	if _, err := b.st.AcquireLease(ctx, "elsewhere", holder, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	_, err = b.st.AcquireLease(ctx, "elsewhere", store.NewLeaseOwner(), time.Hour)
	heldBy(t, err, "elsewhere", holder)
	time.Sleep(400 * time.Millisecond)
	if _, err := b.st.AcquireLease(ctx, "elsewhere", store.NewLeaseOwner(), time.Hour); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestLeaseProcesses: drivers in separate processes racing for one lease:
// exactly one wins.
func TestLeaseProcesses(t *testing.T) {
	for _, k := range kinds {
		if k.name == "mem" {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			b := k.open(t)
			defer b.st.Close()
			u := b.st.URL()
			const procs = 4
			dir := t.TempDir()
			gate := filepath.Join(dir, "go")
			var outs [procs]bytes.Buffer
			var cmds []*exec.Cmd
			for i := range procs {
				cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), "MAPTASK_TEST_LEASE_STORE="+u, "MAPTASK_TEST_LEASE_GATE="+gate)
				cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
			}
			time.Sleep(300 * time.Millisecond) // let them all start, then open the gate
			if err := os.WriteFile(gate, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			// Every driver stays alive until all have tried: a winner that
			// exited at once would leave a dead owner, rightly taken over.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				tried, _ := filepath.Glob(gate + ".tried.*")
				if len(tried) == procs {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d of %d drivers tried", len(tried), procs)
				}
			}
			if err := os.WriteFile(gate+".done", nil, 0o600); err != nil {
				t.Fatal(err)
			}
			won := 0
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
				}
				switch out := outs[i].String(); {
				case strings.Contains(out, "LEASE won"):
					won++
				case strings.Contains(out, "LEASE held"):
				default:
					t.Fatalf("helper %d said:\n%s", i, out)
				}
			}
			if won != 1 {
				t.Fatalf("%d processes won the lease", won)
			}
		})
	}
}

// TestLeaseHelperProcess is one driver of TestLeaseProcesses.
func TestLeaseHelperProcess(t *testing.T) {
	u, gate := os.Getenv("MAPTASK_TEST_LEASE_STORE"), os.Getenv("MAPTASK_TEST_LEASE_GATE")
	if u == "" {
		t.Skip("run by TestLeaseProcesses")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(gate); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gate never opened")
		}
	}
	_, err = st.AcquireLease(ctx, "proc-race", store.NewLeaseOwner(), time.Hour)
	var held *store.LeaseHeldError
	switch {
	case err == nil:
		fmt.Println("LEASE won")
	case errors.As(err, &held):
		fmt.Println("LEASE held:", err)
	default:
		t.Fatal(err)
	}
	// Stay alive, as a running driver would, until every driver has tried.
	if err := os.WriteFile(fmt.Sprintf("%s.tried.%d", gate, os.Getpid()), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(gate + ".done"); err == nil {
			return
		}
	}
	t.Fatal("the test never said it was done")
}
