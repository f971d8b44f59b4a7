package maptask_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/store"
)

const killedN = 200_000

// killedRuns counts the calls of killedTask in this process.
var killedRuns atomic.Int64

// killedTask is trivial, so a durable map runs it in batches; element
// killedN/2 leaves a mark, for the parent to kill the driver mid-run.
var killedTask = maptask.NewTask("test.durable.killed", func(_ context.Context, x int) (int, error) {
	killedRuns.Add(1)
	if x == killedN/2 {
		if dir := os.Getenv("MAPTASK_TEST_KILLED_CHILD"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, "half"), nil, 0o600); err != nil {
				return 0, err
			}
		}
	}
	return x + 1, nil
})

func killedInputs() []int {
	in := make([]int, killedN)
	for i := range in {
		in[i] = i
	}
	return in
}

// A durable map of short attempts takes them in batches, each batch's starts
// journaled and synced before it runs. A driver killed mid-run loses no
// recorded result: the resume runs exactly the elements without one, and
// those the killed driver had in hand were at most its batches.
func TestDurableBatchesDriverKilled(t *testing.T) {
	const conc = 4
	if dir := os.Getenv("MAPTASK_TEST_KILLED_CHILD"); dir != "" {
		_, err := maptask.Map(context.Background(), killedTask, killedInputs(), maptask.StoreURL(filepath.Join(dir, "store")),
			maptask.Execution("killed"), maptask.Concurrency(conc))
		fmt.Println("the map ended before the kill:", err)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableBatchesDriverKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAPTASK_TEST_KILLED_CHILD="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "half")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child map never reached its middle element")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.LoadRecords(ctx, "killed", killedN)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	succeeded, inHand := 0, 0
	for _, r := range recs {
		switch r.Status {
		case store.StatusSucceeded:
			succeeded++
		case store.StatusRunning:
			inHand++
		}
	}
	if succeeded == killedN {
		t.Fatal("the map finished before the kill")
	}
	if most := conc * inprocess.MaxBatch; inHand > most {
		t.Errorf("%d elements started and unfinished at the kill: more than %d batches of %d", inHand, conc, inprocess.MaxBatch)
	}
	killedRuns.Store(0)
	res, err := maptask.Map(ctx, killedTask, killedInputs(), maptask.StoreURL(filepath.Join(dir, "store")),
		maptask.Execution("killed"), maptask.Concurrency(conc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := killedRuns.Load(), int64(killedN-succeeded); got != want {
		t.Errorf("the resume ran %d elements, want the %d without a recorded result", got, want)
	}
	for i, r := range res.All() {
		if r.Err != nil || r.Value != i+1 {
			t.Fatalf("element %d: %+v", i, r)
		}
		if recs[i].Status == store.StatusRunning && r.Attempts != recs[i].Attempts+1 {
			t.Fatalf("element %d: %d attempts, want the %d started before the kill and this one", i, r.Attempts, recs[i].Attempts)
		}
	}
	t.Logf("killed with %d of %d recorded, %d in hand; the resume ran %d", succeeded, killedN, inHand, killedRuns.Load())
}
