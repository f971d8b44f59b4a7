// Command maptask-worker is the maptask command's worker alone: the program a
// Kubernetes pod runs (copied by an init container into the task's image) for
// a command map started by `maptask run --backend kubernetes`. It runs the
// elements a backend gave it, exactly as maptask does in worker mode, and
// links nothing else: no command line interface, no Kubernetes client, no
// registry code, so the image every pod pulls is a fraction of maptask's size.
//
// Install it beside maptask, statically, from the same version:
//
//	CGO_ENABLED=0 go install -ldflags='-s -w' github.com/maptask/maptask/cmd/maptask github.com/maptask/maptask/cmd/maptask-worker
//
// maptask uses a maptask-worker found in its own directory when both were built
// from the same version (--worker-binary names another; without one, maptask
// pushes itself). Run by hand, it only says what it is.
package main

import (
	"fmt"
	"os"

	"github.com/maptask/maptask"
	_ "github.com/maptask/maptask/command"  // registers maptask.command, the task a command map runs
	_ "github.com/maptask/maptask/store/s3" // s3:// stores, as maptask links them
)

func main() {
	maptask.Init() // a worker started by a backend runs its elements and exits here
	fmt.Fprintln(os.Stderr, "maptask-worker: runs the elements of a map started by `maptask run`; it is not run by hand (see maptask run --help)")
	os.Exit(2)
}
