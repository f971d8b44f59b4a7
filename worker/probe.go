package worker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/internal/childenv"
	"github.com/maptask/maptask/internal/logbuf"
)

// probeTimeout bounds the start-up check: a program that calls maptask.Init
// first answers in milliseconds.
const probeTimeout = 30 * time.Second

// Probe starts program once as a worker with nothing to do (MAPTASK_PROBE),
// before a backend launches any real worker. A program whose main calls
// maptask.Init first exits 0 at once. One that forgets Init reaches its own
// Map, which exits with ExitNoInit: Probe then returns NoInitError, and the map
// fails before a single worker started (without the check, every worker would
// start a map of its own). env is added to the program's environment.
func Probe(ctx context.Context, program string, args, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env = append(childenv.For(nil), env...)
	cmd.Env = append(cmd.Env, remote.EnvWorker+"=1", remote.EnvProbe+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out := logbuf.New(64 << 10)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // nothing it started outlives the check
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("worker program %s did not finish maptask's start-up check within %v: does main call maptask.Init() first?", program, probeTimeout)
	case errors.As(err, &ee) && ee.ExitCode() == remote.ExitNoInit:
		return remote.NoInitError(program)
	case errors.As(err, &ee):
		msg := fmt.Sprintf("worker program %s failed maptask's start-up check (%v)", program, ee)
		if line := logbuf.LastLine(out.Bytes()); line != "" {
			msg += ": " + line
		}
		return errors.New(msg + "; does main call maptask.Init() first?")
	}
	return fmt.Errorf("starting worker program %s: %w", program, err)
}
