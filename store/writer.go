package store

import "strings"

// Every journal writer's name starts with one of these: the name says who
// wrote the records, and so where each attempt ran (DescribeWriter). The
// backends build their names from them; nothing else needs to know the forms.
const (
	DriverWriterPrefix     = "d"      // d<unix nanoseconds>: the driver of a map
	ProcessWriterPrefix    = "p"      // p<pid>-<launch>-<first index>: a worker process of the process backend
	SlurmWriterPrefix      = "slurm-" // slurm-<array job>-<array task>: a Slurm array task
	KubernetesWriterPrefix = "k8s-"   // k8s-<Job>-<index>-<pod>: a pod of a Kubernetes Indexed Job
)

// DescribeWriter says in words who a journal writer is: "driver d…",
// "worker process p…", "Slurm array task 812_3", "Kubernetes pod …".
// A name of no known form comes back as it is.
func DescribeWriter(name string) string {
	switch {
	case strings.HasPrefix(name, SlurmWriterPrefix):
		job, task, _ := strings.Cut(strings.TrimPrefix(name, SlurmWriterPrefix), "-")
		return "Slurm array task " + job + "_" + task
	case strings.HasPrefix(name, KubernetesWriterPrefix):
		// <Job>-<index>-<pod>, the pod being named <Job>-<index>-<5 characters>:
		// the part before the pod is half of what is left once those are off.
		rest := strings.TrimPrefix(name, KubernetesWriterPrefix)
		if l := (len(rest) - 7) / 2; l > 0 && len(rest) > l+1 && strings.HasPrefix(rest[l+1:], rest[:l]) {
			return "Kubernetes pod " + rest[l+1:]
		}
		return "Kubernetes " + rest
	case strings.HasPrefix(name, DriverWriterPrefix):
		return "driver " + name
	case strings.HasPrefix(name, ProcessWriterPrefix):
		return "worker process " + name
	}
	return name
}
