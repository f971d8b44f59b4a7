// Package remote is the worker protocol: everything a backend whose workers
// run outside the driver (local processes, Slurm array tasks, Kubernetes pods,
// a test backend running sh -c) shares with the worker and with the other such
// backends, so that none of them re-derives it.
//
//   - What a worker is told: Env, one map of variables (names Env*), and the
//     attempt lists in it (FormatAttempts, ParseAttempts, ArrayEnv, ArrayTasks).
//   - What its exit code says (Exit*, CannotRun, NoInitError).
//   - How what it journaled plus how it ended become the outcome of every
//     attempt it was given: Outcomes, a pure function of a Batch, and Report,
//     which hands them to the engine.
//   - What a backend reads of the store to get there: Journal.
//
// A backend adds only what its platform knows: how to start a worker with an
// environment, and how to tell how it ended (an Exit). Package worker is the
// other side: the run loop of the worker itself.
package remote
