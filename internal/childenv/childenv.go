// Package childenv keeps the worker protocol's variables and store credentials
// away from the programs maptask starts for users: commands of `maptask run`,
// and tasks running in a worker. A maptask-built program that inherited
// MAPTASK_WORKER would become a worker of its parent's execution, and a command
// has no business with the store's secrets unless the user passes them on.
package childenv

import (
	"os"
	"strings"
	"sync"
)

// Protocol are the variables a backend sets for a worker (see package worker).
// They mean something only to the worker process they were set for.
var Protocol = []string{
	"MAPTASK_WORKER", "MAPTASK_STORE_URL", "MAPTASK_EXECUTION", "MAPTASK_WRITER",
	"MAPTASK_ATTEMPTS", "MAPTASK_TASKS", "MAPTASK_OFFSET", "MAPTASK_BATCH",
	"MAPTASK_ATTEMPT", "MAPTASK_ARRAY_INDEX", "MAPTASK_TIMEOUT", "MAPTASK_MAX_LOG",
	"MAPTASK_RESUME", "MAPTASK_RETRIES", "MAPTASK_INSTALL", "MAPTASK_PROBE",
}

// Credentials are the variables through which stores receive secrets: the
// store's integrity key and the cloud SDKs' keys and tokens.
var Credentials = []string{
	"MAPTASK_STORE_KEY",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET",
	"GOOGLE_APPLICATION_CREDENTIALS",
}

// Private reports whether name is a protocol variable or a credential.
func Private(name string) bool {
	for _, list := range [][]string{Protocol, Credentials} {
		for _, v := range list {
			if v == name {
				return true
			}
		}
	}
	return false
}

var (
	mu      sync.Mutex
	removed = map[string]string{} // what Scrub took out of this process's environment
)

// Scrub removes every private variable from this process's environment, so
// that tasks and the programs they start do not see them. A worker calls it
// once it has read its own settings and opened the store. Lookup still finds
// the removed values, for variables the user passes on explicitly.
func Scrub() {
	mu.Lock()
	defer mu.Unlock()
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if Private(name) {
			removed[name] = value
			_ = os.Unsetenv(name)
		}
	}
}

// Lookup returns a variable of this process's environment, including one that
// Scrub removed.
func Lookup(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	mu.Lock()
	defer mu.Unlock()
	v, ok := removed[name]
	return v, ok
}

// For returns the environment for a child program: this process's
// environment without the private variables, plus those named in pass (a
// user's explicit choice), plus extra ("NAME=value" entries, set last).
func For(pass []string, extra ...string) []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+len(pass)+len(extra))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !Private(name) {
			out = append(out, kv)
		}
	}
	for _, name := range pass {
		if v, ok := Lookup(name); ok && Private(name) {
			out = append(out, name+"="+v)
		}
	}
	return append(out, extra...)
}
