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
	"github.com/maptask/maptask/backend/remote"
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
		rules[1].Action != batchv1.PodFailurePolicyActionIgnore || rules[1].OnExitCodes.Values[0] != remote.ExitStopped ||
		rules[2].Action != batchv1.PodFailurePolicyActionFailIndex || rules[2].OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn || rules[2].OnExitCodes.Values[0] != remote.ExitElementFailed {
		t.Fatalf("pod failure policy %+v", rules)
	}
	pod := s.Template.Spec
	c := pod.Containers[0]
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "mapper" || pod.NodeSelector["pool"] != "batch" ||
		len(pod.Tolerations) != 1 || *pod.ActiveDeadlineSeconds != 150 {
		t.Fatalf("pod %+v", pod)
	}
	if env(c, remote.EnvTasks) != "0-2:1;3-5:1;9:1" || env(c, remote.EnvExecution) != "scores-1" ||
		env(c, remote.EnvStoreURL) != job.StoreURL || env(c, remote.EnvTimeout) != "30s" || env(c, remote.EnvWriter) != "k8s-maptask-scores-1-0-$(MAPTASK_K8S_INDEX)-$(POD_NAME)" ||
		env(c, remote.EnvResume) != kubernetes.Writer("maptask-scores-1-0", 0)[:len("k8s-maptask-scores-1-0-")]+"$(MAPTASK_K8S_INDEX)-" || env(c, remote.EnvRetries) != "2" {
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
		if offset := env(c, remote.EnvOffset) != ""; offset != (name == "offset") {
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
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != "reg/worker:w-1" || env(pod.InitContainers[0], remote.EnvInstall) == "" {
		t.Fatalf("init containers %+v", pod.InitContainers)
	}
	c := pod.Containers[0]
	if c.Image != "python:3" || len(c.Command) != 1 || c.Command[0] != env(pod.InitContainers[0], remote.EnvInstall) {
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

// restrictedViolations lists what in pod breaks the "restricted" Pod Security
// Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
// as the API server's PodSecurity admission checks it.
func restrictedViolations(pod corev1.PodSpec) []string {
	var out []string
	allowed := func(v corev1.Volume) bool {
		s := v.VolumeSource
		return s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil || s.Ephemeral != nil ||
			s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil
	}
	for _, v := range pod.Volumes {
		if !allowed(v) {
			out = append(out, "volume "+v.Name+" has a restricted type")
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		out = append(out, "host namespaces")
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		out = append(out, "pod runAsUser 0")
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.Privileged != nil && *sc.Privileged {
			out = append(out, c.Name+": privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, c.Name+": allowPrivilegeEscalation != false")
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			out = append(out, c.Name+": capabilities not dropped (ALL)")
		} else {
			for _, a := range sc.Capabilities.Add {
				if a != "NET_BIND_SERVICE" {
					out = append(out, c.Name+": adds capability "+string(a))
				}
			}
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			out = append(out, c.Name+": runAsNonRoot != true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			out = append(out, c.Name+": runAsUser 0")
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			out = append(out, c.Name+": seccompProfile not RuntimeDefault or Localhost")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				out = append(out, c.Name+": hostPort")
			}
		}
	}
	return out
}

// Pods meet the "restricted" Pod Security Standard by default, and more: a
// read-only root filesystem with a scratch emptyDir (TMPDIR) in every
// container, a numeric non-root user, no service account token.
func TestBuildJobMeetsRestrictedPodSecurity(t *testing.T) {
	for name, c := range map[string]struct {
		opts     kubernetes.JobOptions
		store    string
		image    string
		uid, gid int64
	}{
		"worker image, S3":                {store: "s3://bucket?region=x", uid: 65532, gid: 65532},
		"task image, store claim":         {opts: kubernetes.JobOptions{StoreClaim: "maptask-store"}, store: "file:///srv/maptask", image: "python:3", uid: 65532, gid: 65532},
		"own user, task image, S3 secret": {opts: kubernetes.JobOptions{RunAsUser: 1000, RunAsGroup: 2000, StoreSecret: "s3"}, store: "s3://b", image: "python:3", uid: 1000, gid: 2000},
	} {
		t.Run(name, func(t *testing.T) {
			j, err := kubernetes.BuildJob(c.opts, &backend.Job{Execution: "x", StoreURL: c.store},
				kubernetes.IndexedJob{Name: "n", WorkerImage: "reg/w@sha256:abc", TaskImage: c.image, Tasks: tasks([]int{0})})
			if err != nil {
				t.Fatal(err)
			}
			pod := j.Spec.Template.Spec
			if v := restrictedViolations(pod); len(v) != 0 {
				t.Errorf("violates the restricted Pod Security Standard: %v", v)
			}
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != c.uid || psc.RunAsGroup == nil || *psc.RunAsGroup != c.gid ||
				psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Errorf("pod security context %+v, want user %d group %d, non-root", psc, c.uid, c.gid)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the service account token is mounted")
			}
			scratch := ""
			for _, v := range pod.Volumes {
				if v.EmptyDir != nil && v.Name != "maptask-bin" {
					scratch = v.Name
				}
			}
			all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
			if want := 1 + map[bool]int{true: 1}[c.image != ""]; len(all) != want {
				t.Fatalf("%d containers, want %d", len(all), want)
			}
			for _, ct := range all {
				if sc := ct.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s: root filesystem not read-only", ct.Name)
				}
				tmp := false
				for _, m := range ct.VolumeMounts {
					tmp = tmp || (m.Name == scratch && m.MountPath == kubernetes.ScratchDir)
				}
				if scratch == "" || !tmp || env(ct, "TMPDIR") != kubernetes.ScratchDir {
					t.Errorf("%s: no emptyDir at %s with TMPDIR (mounts %+v, env %+v)", ct.Name, kubernetes.ScratchDir, ct.VolumeMounts, ct.Env)
				}
			}
		})
	}
}

// A file:// store is mounted from StoreClaim when set (a namespace enforcing
// the restricted standard refuses hostPath volumes), else from the node.
func TestBuildJobMountsTheStoreClaim(t *testing.T) {
	job := &backend.Job{Execution: "x", StoreURL: "file:///srv/maptask"}
	ij := kubernetes.IndexedJob{Name: "n", WorkerImage: "i", Tasks: tasks([]int{0})}
	j, err := kubernetes.BuildJob(kubernetes.JobOptions{StoreClaim: "store"}, job, ij)
	if err != nil {
		t.Fatal(err)
	}
	pod := j.Spec.Template.Spec
	var claim string
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("hostPath volume %+v", v)
		}
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "store" && !v.PersistentVolumeClaim.ReadOnly {
			claim = v.Name
		}
	}
	mounted := false
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted = mounted || (m.Name == claim && m.MountPath == "/srv/maptask" && !m.ReadOnly)
	}
	if claim == "" || !mounted {
		t.Fatalf("the claim is not mounted at the store's path: volumes %+v, mounts %+v", pod.Volumes, pod.Containers[0].VolumeMounts)
	}
	if v := restrictedViolations(pod); len(v) != 0 {
		t.Errorf("violates the restricted Pod Security Standard: %v", v)
	}

	// Without a claim, the store and HostPaths come from the node, for
	// namespaces that allow hostPath volumes.
	j, err = kubernetes.BuildJob(kubernetes.JobOptions{HostPaths: []string{"/data"}}, job, ij)
	if err != nil {
		t.Fatal(err)
	}
	var hostPaths []string
	for _, v := range j.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v.HostPath.Path)
		}
	}
	if !reflect.DeepEqual(hostPaths, []string{"/srv/maptask", "/data"}) {
		t.Fatalf("hostPaths %v", hostPaths)
	}

	// A directory at /tmp is the scratch space: no second volume there.
	j, err = kubernetes.BuildJob(kubernetes.JobOptions{}, &backend.Job{Execution: "x", StoreURL: "file:///tmp"}, ij)
	if err != nil {
		t.Fatal(err)
	}
	if m := j.Spec.Template.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].MountPath != "/tmp" {
		t.Fatalf("store at /tmp: mounts %+v", m)
	}

	// A plain path is a directory too (Check sees the store as given).
	j, err = kubernetes.BuildJob(kubernetes.JobOptions{StoreClaim: "store"}, &backend.Job{Execution: "x", StoreURL: "/srv/store"}, ij)
	if err != nil || j.Spec.Template.Spec.Volumes[1].PersistentVolumeClaim == nil || j.Spec.Template.Spec.Containers[0].VolumeMounts[1].MountPath != "/srv/store" {
		t.Fatalf("plain path: %v", err)
	}

	for what, c := range map[string]struct {
		opts  kubernetes.JobOptions
		store string
		want  string
	}{
		"claim for S3":  {kubernetes.JobOptions{StoreClaim: "store"}, "s3://bucket", `StoreClaim "store" is for a file:// store`},
		"negative user": {kubernetes.JobOptions{RunAsUser: -1}, "s3://bucket", "RunAsUser -1"},
	} {
		if _, err := kubernetes.BuildJob(c.opts, &backend.Job{Execution: "x", StoreURL: c.store}, ij); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", what, err, c.want)
		}
	}
}
