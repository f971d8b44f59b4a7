package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/remote"
)

// TestMain makes this test binary its own worker program.
func TestMain(m *testing.M) {
	maptask.Init()
	os.Exit(m.Run())
}

// shBackend is the smallest remote backend: each batch is a worker started
// through sh -c, its environment written as the script's exports. It uses
// nothing of maptask but package backend and the worker protocol (remote):
// what any new remote backend (AWS Batch, Nomad...) would need.
type shBackend struct{ program string }

var (
	_ backend.Remote  = (*shBackend)(nil)
	_ backend.Bounded = (*shBackend)(nil)
)

func (*shBackend) Name() string        { return "sh" }
func (*shBackend) Remote() bool        { return true }
func (*shBackend) MaxConcurrency() int { return 4 }

// Run starts one worker per batch, as many at once as the concurrency bound.
func (b *shBackend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	st, err := remote.OpenStore(ctx, b.Name(), job)
	if err != nil {
		return err
	}
	defer st.Close()
	var wg sync.WaitGroup
	for range backend.EffectiveConcurrency(b, job.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				attempts, ok := q.NextBatch(max(job.BatchSize, 1))
				if !ok {
					return
				}
				b.launch(ctx, job, q, st, attempts)
			}
		}()
	}
	wg.Wait()
	return nil
}

var launches atomic.Int64

// launch runs one worker for attempts and reports every one of them.
func (b *shBackend) launch(ctx context.Context, job *backend.Job, q backend.Queue, journal remote.Journal, attempts []backend.Attempt) {
	writer := fmt.Sprintf("sh-%d-%d", os.Getpid(), launches.Add(1))
	env := remote.Env(job, remote.Worker{Writer: writer, Attempts: remote.FormatAttempts(attempts)})
	cmd := exec.Command("sh", "-c", remote.Shell(env)+"exec "+remote.ShellQuote(b.program))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		for _, a := range attempts {
			q.Report(backend.Outcome{Attempt: a, Status: backend.Lost, Err: err, ExitCode: -1})
		}
		return
	}
	kill := func(sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }
	// A task that ignores its timeout is killed with its worker.
	var timedOut atomic.Bool
	if job.Timeout > 0 {
		deadline := time.AfterFunc(time.Duration(len(attempts))*job.Timeout+5*time.Second, func() {
			timedOut.Store(true)
			kill(syscall.SIGKILL)
		})
		defer deadline.Stop()
	}
	// A stopped map asks the worker to stop: it records what it finished.
	exited := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		kill(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			kill(syscall.SIGKILL)
		}
	})
	waitErr := cmd.Wait()
	close(exited)
	stop()
	kill(syscall.SIGKILL) // nothing the worker started outlives it

	recs, readErr := journal.ReadJournal(context.WithoutCancel(ctx), job.Execution, writer)
	batch := remote.Batch{Attempts: attempts, Records: recs, ReadErr: readErr, Exit: exitOf(waitErr)}
	batch.Exit.Where, batch.Exit.Output = "sh worker", out.Bytes()
	batch.Exit.Duration = time.Since(start) / time.Duration(len(attempts))
	if timedOut.Load() {
		batch.Exit.How, batch.Exit.Limit = remote.TimedOut, job.Timeout
	}
	if ctx.Err() != nil {
		batch.Stopped = context.Cause(ctx)
	}
	remote.Report(q, batch, b.program)
}

// exitOf says how the worker ended, from cmd.Wait's error.
func exitOf(err error) remote.Exit {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return remote.Exit{How: remote.Exited}
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return remote.Exit{How: remote.Killed, Code: -1, Signal: int(ws.Signal())}
	}
	return remote.Exit{How: remote.Exited, Code: ee.ExitCode()}
}

func TestShBackendConformance(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, func(*testing.T) backend.Backend { return &shBackend{program: self} })
}
