package main

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestResumeRestoresEveryRecordedFlag: every recorded flag of the table, set
// to a value other than its default at run, comes back on resume; flags given
// to resume win; resume accepts exactly the resumable flags.
func TestResumeRestoresEveryRecordedFlag(t *testing.T) {
	run := &runFlags{}
	runCmd := &cobra.Command{Use: "run"}
	run.register(runCmd, false)
	for _, r := range flagTable {
		if r.use&recorded == 0 {
			continue
		}
		if err := runCmd.Flags().Set(r.name, otherValue(t, r)); err != nil {
			t.Fatalf("--%s: %v", r.name, err)
		}
	}
	labels := run.labels()

	res := &runFlags{}
	resumeCmd := &cobra.Command{Use: "resume"}
	res.register(resumeCmd, true)
	if err := resumeCmd.Flags().Set("retries", "9"); err != nil { // given again: wins
		t.Fatal(err)
	}
	restored, err := res.restore(labels, resumeCmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range flagTable {
		inResume := resumeCmd.Flags().Lookup(r.name) != nil
		if inResume != (r.use&resumable != 0) {
			t.Errorf("--%s: in resume %v, resumable %v", r.name, inResume, r.use&resumable != 0)
		}
		if r.use&recorded == 0 {
			continue
		}
		got, want := formatValue(r.ptr(res)), formatValue(r.ptr(run))
		if r.name == "retries" {
			want = "9"
		}
		if got != want {
			t.Errorf("--%s: resume has %q, run had %q", r.name, got, want)
		}
	}
	if len(restored) != countRecorded()-1 {
		t.Errorf("restored %v: want every recorded flag but --retries", restored)
	}
}

func countRecorded() int {
	n := 0
	for _, r := range flagTable {
		if r.use&recorded != 0 {
			n++
		}
	}
	return n
}

// otherValue is a valid value for r other than its default.
func otherValue(t *testing.T, r runFlag) string {
	switch d := r.def.(type) {
	case int:
		return fmt.Sprint(d + 3)
	case float64:
		return "0.5"
	case string:
		if r.name == "backend" {
			return "slurm"
		}
		return "value-of-" + r.name
	case bool:
		return fmt.Sprint(!d)
	case time.Duration:
		return (d + 7*time.Second).String()
	}
	t.Fatalf("--%s: no other value for %v", r.name, reflect.TypeOf(r.def))
	return ""
}

func TestFlagChecksNameTheFlag(t *testing.T) {
	f := &runFlags{}
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd, false)
	if err := cmd.Flags().Set("min-success-ratio", "1.5"); err != nil {
		t.Fatal(err)
	}
	err := f.check(cmd.Flags().Changed)
	if err == nil || err.Error() != "maptask: --min-success-ratio 1.5: must be in (0, 1]" {
		t.Fatalf("check = %v", err)
	}
}
