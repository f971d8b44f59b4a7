package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/process"
	"github.com/maptask/maptask/command"
)

// maptask-worker runs a command map's elements as maptask does in worker mode:
// a map of maptask.command on the process backend, with it as the worker.
func TestWorkerRunsCommands(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build maptask-worker")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "maptask-worker")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spec, err := command.NewSpec([]string{"sh", "-c", `echo "$1" > "$2/out-$1"`, "sh", "{}", dir})
	if err != nil {
		t.Fatal(err)
	}
	inputs := []command.Input{{"a"}, {"b"}, {"c"}}
	res, err := maptask.Map(context.Background(), command.Task.Bind(spec), inputs,
		maptask.Backend(&process.Backend{Executable: bin}), maptask.Concurrency(2),
		maptask.StoreURL(filepath.Join(dir, "store")), maptask.Execution("w"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded() != len(inputs) {
		t.Fatalf("%d of %d succeeded", res.Succeeded(), len(inputs))
	}
	for _, in := range inputs {
		if data, err := os.ReadFile(filepath.Join(dir, "out-"+in[0])); err != nil || string(data) != in[0]+"\n" {
			t.Errorf("input %s: %q, %v", in, data, err)
		}
	}
}
