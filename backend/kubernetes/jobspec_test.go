package kubernetes_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/worker"
)

func tasks(lists ...[]int) [][]backend.Attempt {
	var out [][]backend.Attempt
	for _, l := range lists {
		var t []backend.Attempt
		for _, i := range l {
			t = append(t, backend.Attempt{Index: i, Number: 1})
		}
		out = append(out, t)
	}
	return out
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestBuildJob(t *testing.T) {
	job := &backend.Job{Execution: "scores-1", StoreURL: "s3://bucket?region=x", Concurrency: 2, Timeout: 30 * time.Second,
		Interruptible: true, Resources: backend.Resources{CPU: "500m", Memory: "1Gi", GPU: "1", LimitMemory: "2Gi"}}
	opts := kubernetes.JobOptions{Namespace: "team", ServiceAccount: "mapper", NodeSelector: map[string]string{"pool": "batch"},
		Labels:                   map[string]string{"team": "ml"},
		InterruptibleTolerations: []corev1.Toleration{{Key: "spot", Operator: corev1.TolerationOpExists}}}
	j, err := kubernetes.BuildJob(opts, job, kubernetes.IndexedJob{Name: "maptask-scores-1-0", WorkerImage: "reg/w@sha256:abc",
		Tasks: tasks([]int{0, 1, 2}, []int{3, 4, 5}, []int{9}), Retries: 2, MaxFailedIndexes: 1, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := j.Spec
	if *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 3 || *s.Parallelism != 2 ||
		*s.BackoffLimitPerIndex != 2 || *s.MaxFailedIndexes != 1 || s.SuccessPolicy != nil {
		t.Fatalf("spec %+v", s)
	}
	rules := s.PodFailurePolicy.Rules
	if len(rules) != 3 || rules[0].Action != batchv1.PodFailurePolicyActionIgnore || rules[0].OnPodConditions[0].Type != corev1.DisruptionTarget ||
		rules[1].Action != batchv1.PodFailurePolicyActionIgnore || rules[1].OnExitCodes.Values[0] != worker.ExitStopped ||
		rules[2].Action != batchv1.PodFailurePolicyActionFailIndex || rules[2].OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn || rules[2].OnExitCodes.Values[0] != worker.ExitElementFailed {
		t.Fatalf("pod failure policy %+v", rules)
	}
	pod := s.Template.Spec
	c := pod.Containers[0]
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "mapper" || pod.NodeSelector["pool"] != "batch" ||
		len(pod.Tolerations) != 1 || *pod.ActiveDeadlineSeconds != 150 {
		t.Fatalf("pod %+v", pod)
	}
	if env(c, worker.EnvTasks) != "0-2:1;3-5:1;9:1" || env(c, worker.EnvExecution) != "scores-1" ||
		env(c, worker.EnvStoreURL) != job.StoreURL || env(c, worker.EnvTimeout) != "30s" || env(c, worker.EnvWriter) != "k8s-maptask-scores-1-0-$(MAPTASK_K8S_INDEX)-$(POD_NAME)" ||
		env(c, worker.EnvResume) != kubernetes.Writer("maptask-scores-1-0", 0)[:len("k8s-maptask-scores-1-0-")]+"$(MAPTASK_K8S_INDEX)-" || env(c, worker.EnvRetries) != "2" {
		t.Fatalf("env %+v", c.Env)
	}
	if c.Resources.Requests.Cpu().MilliValue() != 500 || c.Resources.Limits.Memory().String() != "2Gi" ||
		c.Resources.Limits["nvidia.com/gpu"] != c.Resources.Requests["nvidia.com/gpu"] {
		t.Fatalf("resources %+v", c.Resources)
	}
	if j.Labels[kubernetes.LabelExecution] != "scores-1" || s.Template.Labels["team"] != "ml" || j.Namespace != "team" {
		t.Fatalf("labels %v / %v", j.Labels, s.Template.Labels)
	}
	// Not interruptible: no tolerations.
	job.Interruptible = false
	j, _ = kubernetes.BuildJob(opts, job, kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks([]int{0})})
	if len(j.Spec.Template.Spec.Tolerations) != 0 || *j.Spec.Parallelism != 1 {
		t.Fatalf("tolerations %v, parallelism %d", j.Spec.Template.Spec.Tolerations, *j.Spec.Parallelism)
	}
}

func TestBuildJobRefusesBadResources(t *testing.T) {
	for field, r := range map[string]backend.Resources{
		"Requests.CPU":    {CPU: "two"},
		"Limits.Memory":   {LimitMemory: "1Gx"},
		"Requests.Memory": {Memory: "lots"},
	} {
		_, err := kubernetes.BuildJob(kubernetes.JobOptions{}, &backend.Job{Execution: "x", Resources: r},
			kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks([]int{0})})
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestLongExecutionIDsStillLabel(t *testing.T) {
	id := strings.Repeat("a", 100) + "-" + strings.Repeat("b", 27)
	j, err := kubernetes.BuildJob(kubernetes.JobOptions{}, &backend.Job{Execution: id}, kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks([]int{0})})
	if err != nil {
		t.Fatal(err)
	}
	v := j.Labels[kubernetes.LabelExecution]
	if errs := validation.IsValidLabelValue(v); len(errs) != 0 || j.Annotations[kubernetes.AnnotationID] != id {
		t.Fatalf("label %q: %v", v, errs)
	}
	other, _ := kubernetes.BuildJob(kubernetes.JobOptions{}, &backend.Job{Execution: id + "c"}, kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks([]int{0})})
	if other.Labels[kubernetes.LabelExecution] == v {
		t.Fatal("two long ids share a label value")
	}
}

func TestBuildJobRoundTripsTasks(t *testing.T) {
	first := [][]backend.Attempt{}
	for i := 0; i < 4; i++ { // a first round: consecutive elements in equal batches
		first = append(first, []backend.Attempt{{Index: 10 + 3*i, Number: 1}, {Index: 11 + 3*i, Number: 1}, {Index: 12 + 3*i, Number: 1}})
	}
	retries := [][]backend.Attempt{{{Index: 4, Number: 2}, {Index: 9, Number: 3}}, {{Index: 30, Number: 2}}}
	for name, tasks := range map[string][][]backend.Attempt{"offset": first, "lists": retries} {
		j, err := kubernetes.BuildJob(kubernetes.JobOptions{}, &backend.Job{Execution: "x"}, kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks})
		if err != nil {
			t.Fatal(err)
		}
		c := j.Spec.Template.Spec.Containers[0]
		if offset := env(c, worker.EnvOffset) != ""; offset != (name == "offset") {
			t.Errorf("%s: env %v", name, c.Env)
		}
		got, err := kubernetes.TasksOf(j)
		if err != nil || !reflect.DeepEqual(got, tasks) {
			t.Errorf("%s: TasksOf = %v, %v; want %v", name, got, err, tasks)
		}
	}
}

func TestBuildJobRunsTaskImagesWithTheWorkerCopiedIn(t *testing.T) {
	j, err := kubernetes.BuildJob(kubernetes.JobOptions{StoreSecret: "s3-creds"}, &backend.Job{Execution: "x", StoreURL: "file:///srv/maptask"},
		kubernetes.IndexedJob{Name: "n", WorkerImage: "reg/worker:w-1", TaskImage: "python:3", Tasks: tasks([]int{0})})
	if err != nil {
		t.Fatal(err)
	}
	pod := j.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != "reg/worker:w-1" || env(pod.InitContainers[0], worker.EnvInstall) == "" {
		t.Fatalf("init containers %+v", pod.InitContainers)
	}
	c := pod.Containers[0]
	if c.Image != "python:3" || len(c.Command) != 1 || c.Command[0] != env(pod.InitContainers[0], worker.EnvInstall) {
		t.Fatalf("worker container %+v", c)
	}
	if c.EnvFrom[0].SecretRef.Name != "s3-creds" {
		t.Fatalf("store credentials: %+v", c.EnvFrom)
	}
	var hostPath string
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPath = v.HostPath.Path
		}
	}
	if hostPath != "/srv/maptask" {
		t.Fatalf("store directory not mounted: %+v", pod.Volumes)
	}
}
