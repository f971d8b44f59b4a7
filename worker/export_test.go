package worker

// Run exposes run to the external tests.
var Run = run
