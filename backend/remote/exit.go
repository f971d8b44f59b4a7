package remote

import "fmt"

// Exit codes of a worker. Element outcomes are in the store; the exit code says
// whether the worker could do its job at all.
const (
	ExitOK               = 0   // every element ran and succeeded
	ExitElementFailed    = 1   // every element ran and was recorded; some failed
	ExitPermanent        = 100 // every failure was permanent (retrying will not help)
	ExitBadEnvironment   = 64  // the environment does not say what to run
	ExitTaskNotFound     = 65  // no task of that name is registered in this program
	ExitExecutionMissing = 66  // the execution is not in the store
	ExitInputsMissing    = 67  // the inputs (or bound value) are not in the store
	ExitStore            = 68  // the store cannot be opened or written
	// ExitNoInit: the program called maptask.Map without calling maptask.Init
	// first. Every worker of the map would do the same: the driver fails the
	// whole map at once.
	ExitNoInit = 69
	// ExitStopped: the worker was told to stop (SIGTERM: a cancel, an eviction)
	// before finishing; what it finished is recorded. Not the elements' fault.
	ExitStopped = 75
)

// CannotRun reports whether a worker's exit code says it could not run its
// map at all (bad environment, task, execution, inputs or store): retrying
// will not help, so backends fail such attempts permanently.
func CannotRun(code int) bool { return code >= ExitBadEnvironment && code <= ExitNoInit }

// NoInitError is the error of a map whose worker program exited with
// ExitNoInit: backends halt the map with it (Report does).
func NoInitError(program string) error {
	return fmt.Errorf("worker program %s does not call maptask.Init() first thing in main: "+
		"it was started as a worker and called Map instead (exit status %d); add maptask.Init() as the first line of main", program, ExitNoInit)
}
