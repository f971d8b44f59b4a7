package slurm

import (
	"strings"
	"testing"
)

// squeue's "%F|%K|%T|%r" lines: a pending range, a running task, and an
// array the partition can never run.
const squeueOut = `14|[2-3%2]|PENDING|JobArrayTaskLimit
14|0|RUNNING|None
14|1|COMPLETED|None
15|[0-1]|PENDING|BadConstraints
`

func TestParseStates(t *testing.T) {
	got := parseStates(squeueOut)
	want := map[string]taskState{
		"14_0": {"RUNNING", "None"}, "14_1": {"COMPLETED", "None"},
		"14_2": {"PENDING", "JobArrayTaskLimit"}, "14_3": {"PENDING", "JobArrayTaskLimit"},
		"15_0": {"PENDING", "BadConstraints"}, "15_1": {"PENDING", "BadConstraints"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d states, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
}

// Only a PENDING reason that never clears is an error, naming the task and
// the reason.
func TestStuck(t *testing.T) {
	for key, st := range parseStates(squeueOut) {
		err := stuck(key, st)
		if (err != nil) != strings.HasPrefix(key, "15_") {
			t.Errorf("%s %+v: %v", key, st, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "array task "+key) || !strings.Contains(err.Error(), "BadConstraints")) {
			t.Errorf("%s: %v", key, err)
		}
	}
	if err := stuck("1_0", taskState{"PENDING", "PartitionConfig"}); err == nil {
		t.Error("PartitionConfig is not stuck")
	}
	if err := stuck("1_0", taskState{"RUNNING", "BadConstraints"}); err != nil {
		t.Errorf("a running task is stuck: %v", err)
	}
	// An array the driver holds until it has a share of the bound (sbatch
	// --hold, scontrol uhold; JobHeldAdmin when root held it) waits, it is
	// not stuck.
	for _, reason := range []string{"JobHeldUser", "JobHeldAdmin"} {
		if err := stuck("1_0", taskState{"PENDING", reason}); err != nil {
			t.Errorf("a held task is stuck: %v", err)
		}
	}
}

// What scontrol update ArrayTaskThrottle printed on standard error (Slurm
// 22.05, exit status 1 each time): only a real refusal is reported.
func TestThrottleRefused(t *testing.T) {
	for stderr, want := range map[string]string{
		"7_0-1: Job has already finished\n7_2-5: No error\n":                                      "",
		"1_0-4: Job has already finished\n1_5: No error\n":                                        "",
		"Invalid job id specified for job 99999\n":                                                "",
		"Invalid job id specified for job 99999\nslurm_suspend error: Invalid job id specified\n": "",                        // uhold, release
		"12_0-3: Invalid user id\n":                                                               "12_0-3: Invalid user id", // another user's array
		"scontrol: error: Invalid ArrayTaskThrottle value\n":                                      "scontrol: error: Invalid ArrayTaskThrottle value",
		"7_0-1: Job has already finished\n7_2-5: Invalid user id\n":                               "7_2-5: Invalid user id",
	} {
		if got := throttleRefused(stderr); got != want {
			t.Errorf("%q: %q, want %q", stderr, got, want)
		}
	}
}
