package store_test

import (
	"testing"

	"github.com/maptask/maptask/store"
)

func TestDescribeWriter(t *testing.T) {
	for name, want := range map[string]string{
		store.DriverWriterPrefix + "1764556800123":                     "driver d1764556800123",
		store.ProcessWriterPrefix + "4242-7-1000":                      "worker process p4242-7-1000",
		store.SlurmWriterPrefix + "812-3":                              "Slurm array task 812_3",
		store.KubernetesWriterPrefix + "mt-ab12-0-4-mt-ab12-0-4-xk2p9": "Kubernetes pod mt-ab12-0-4-xk2p9",
		store.KubernetesWriterPrefix + "odd":                           "Kubernetes odd",
		"someone-else":                                                 "someone-else",
	} {
		if got := store.DescribeWriter(name); got != want {
			t.Errorf("DescribeWriter(%q) = %q, want %q", name, got, want)
		}
	}
}
