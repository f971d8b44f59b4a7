package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/store"
)

// Labels and annotations on every object maptask creates, so that each can be
// found, reattached to and deleted.
const (
	LabelExecution = "maptask.dev/execution" // the execution id, shortened to a valid label value when needed
	LabelManaged   = "app.kubernetes.io/managed-by"
	AnnotationID   = "maptask.dev/execution-id" // the full execution id
)

// JobOptions are the Kubernetes settings of the Jobs a map creates.
type JobOptions struct {
	Namespace      string
	ServiceAccount string
	NodeSelector   map[string]string
	Labels         map[string]string // added to Jobs and pods
	// InterruptibleTolerations and InterruptibleAffinity are added to the pods
	// of tasks marked maptask.Interruptible, to place them on spot or
	// preemptible nodes. An eviction there is retried by the Job without
	// spending the element's retries.
	InterruptibleTolerations []corev1.Toleration
	InterruptibleAffinity    *corev1.Affinity
	PullPolicy               corev1.PullPolicy
	// StoreSecret names a Secret in the namespace whose keys become the
	// workers' environment (AWS_ACCESS_KEY_ID, ...): store credentials never
	// appear in a Job's spec.
	StoreSecret string
	// HostPaths are node directories mounted at the same path in every pod:
	// a shared filesystem (NFS, Lustre) that tasks read and write. A file://
	// store's directory is mounted the same way unless StoreClaim is set.
	// The Pod Security Standards forbid hostPath volumes in "baseline" and
	// "restricted" namespaces: pods using them are rejected there.
	HostPaths []string
	// StoreClaim names a PersistentVolumeClaim in the namespace that holds a
	// file:// store's directory: it is mounted at the directory's path in
	// every pod instead of a hostPath, which is how a file:// store works in a
	// namespace enforcing the "restricted" Pod Security Standard. The volume
	// must show the same files as the directory the driver opens (a shared
	// filesystem, or a hostPath or local PersistentVolume on a one-node
	// cluster). Set it only with a file:// store.
	StoreClaim string
	// RunAsUser and RunAsGroup are the numeric user and group every container
	// of the pods runs as; 0 means DefaultUser. Pods never run as root: they
	// meet the "restricted" Pod Security Standard (non-root, no privilege
	// escalation, no capabilities, RuntimeDefault seccomp profile, read-only
	// root filesystem with an emptyDir at /tmp, no service account token).
	// The user must be able to read and write a file:// store's directory,
	// and HostPaths the tasks write to.
	RunAsUser, RunAsGroup int64
	// PendingTimeout bounds how long a pod of the map may wait Unschedulable
	// (no node has room for it, matches its NodeSelector or tolerates its
	// node's taints) while no pod of the map starts or finishes: past it the
	// map fails with the scheduler's message ("0/3 nodes are available: 3
	// Insufficient cpu") and its Jobs are deleted. Pods waiting for room the
	// map's own pods take are not stuck: each pod of the map that starts or
	// finishes restarts the clock. 0 means DefaultPendingTimeout; a negative
	// value waits forever. (A request above every node's allocatable is
	// refused before anything is created, when the driver may list nodes.)
	PendingTimeout time.Duration
}

// DefaultPendingTimeout is JobOptions.PendingTimeout when it is 0.
const DefaultPendingTimeout = 2 * time.Minute

func (o JobOptions) pendingTimeout() time.Duration {
	if o.PendingTimeout == 0 {
		return DefaultPendingTimeout
	}
	return o.PendingTimeout
}

// DefaultUser is the user and group id pods run as when JobOptions names
// none, and the user of the worker images ImageBuilder makes ("nonroot" in
// distroless images).
const DefaultUser = 65532

// ScratchDir is where every container of a pod finds a writable emptyDir
// (TMPDIR): the rest of its root filesystem is read-only.
const ScratchDir = "/tmp"

// IndexedJob describes one Indexed Job: each index is a pod running the
// attempts of Tasks[index] one after the other.
type IndexedJob struct {
	Name string
	// WorkerImage holds the worker program at WorkerPath. TaskImage, when
	// set, is the image the task runs in: an init container then copies the
	// worker from WorkerImage into it (any image works).
	WorkerImage, TaskImage string
	Tasks                  [][]backend.Attempt
	Retries                int // per index (backoffLimitPerIndex): the task's user retries
	// MaxFailedIndexes is how many indexes may fail before the Job gives up;
	// the map's verdict is the engine's, never the Job's condition.
	MaxFailedIndexes int
	Parallelism      int // pods at once; 0 means one per index
}

// Writer is the journal writer prefix of the pods of one index of a Job: a
// retried index's worker reads what the earlier pods recorded (MAPTASK_RESUME).
func Writer(jobName string, index int) string {
	return fmt.Sprintf("%s%s-%d-", store.KubernetesWriterPrefix, jobName, index)
}

const (
	indexAnnotation = "batch.kubernetes.io/job-completion-index"
	installDir      = "/maptask"
)

// BuildJob returns the Job for ij. Errors name the option at fault; nothing is
// created here.
func BuildJob(o JobOptions, job *backend.Job, ij IndexedJob) (*batchv1.Job, error) {
	if len(ij.Tasks) == 0 {
		return nil, fmt.Errorf("maptask: kubernetes: a Job needs at least one task")
	}
	resources, err := resourceRequirements(job.Resources)
	if err != nil {
		return nil, err
	}
	retries := int32(max(ij.Retries, 0))
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "MAPTASK_K8S_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + indexAnnotation + "']"}}},
	}
	// After the two above: a container's $(NAME) sees only variables defined before it.
	protocol := remote.Env(job, remote.Worker{Writer: store.KubernetesWriterPrefix + ij.Name + "-$(MAPTASK_K8S_INDEX)-$(POD_NAME)", Array: ij.Tasks,
		Resume: store.KubernetesWriterPrefix + ij.Name + "-$(MAPTASK_K8S_INDEX)-", Retries: int(retries)})
	for _, name := range remote.Names(protocol) {
		env = append(env, corev1.EnvVar{Name: name, Value: protocol[name]})
	}
	labels := map[string]string{LabelExecution: labelValue(job.Execution), LabelManaged: "maptask"}
	for k, v := range o.Labels {
		labels[k] = v
	}
	completions := int32(len(ij.Tasks))
	parallelism := completions
	if ij.Parallelism > 0 && int32(ij.Parallelism) < completions {
		parallelism = int32(ij.Parallelism)
	}
	uid, gid, err := o.user()
	if err != nil {
		return nil, err
	}
	main := corev1.Container{
		Name:            "worker",
		Image:           ij.WorkerImage,
		ImagePullPolicy: o.PullPolicy,
		Env:             env,
		Resources:       resources,
		SecurityContext: containerSecurity(),
		// The last lines of output explain a failed pod in the map's error.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if o.StoreSecret != "" {
		main.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.StoreSecret}}}}
	}
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever, // required by podFailurePolicy
		ServiceAccountName: o.ServiceAccount,
		// Workers talk only to the store, never to the API.
		AutomountServiceAccountToken: ptr(false),
		NodeSelector:                 o.NodeSelector,
		// The "restricted" Pod Security Standard, with every container's
		// SecurityContext.
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			RunAsUser:      &uid,
			RunAsGroup:     &gid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	mounts, err := o.directories(job.StoreURL)
	if err != nil {
		return nil, err
	}
	// Scratch space first: a directory below it is mounted on top of it
	// whatever order the runtime takes mounts in.
	var scratchMount []corev1.VolumeMount
	if !slices.ContainsFunc(mounts, func(m mount) bool { return path.Clean(m.path) == ScratchDir }) {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "maptask-tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		scratchMount = []corev1.VolumeMount{{Name: "maptask-tmp", MountPath: ScratchDir}}
		main.VolumeMounts = append(main.VolumeMounts, scratchMount...)
	} // else a directory mounted there is the scratch space
	for k, m := range mounts {
		vol := fmt.Sprintf("maptask-host-%d", k)
		if m.claim != "" {
			vol = "maptask-store"
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vol,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: m.claim}}})
		} else {
			dirType := corev1.HostPathDirectory
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vol,
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.path, Type: &dirType}}})
		}
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: m.path})
	}
	main.Env = append(main.Env, corev1.EnvVar{Name: "TMPDIR", Value: ScratchDir})
	if ij.TaskImage != "" {
		// Any image runs the task: the worker is copied into it first.
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "maptask-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mount := corev1.VolumeMount{Name: "maptask-bin", MountPath: installDir}
		pod.InitContainers = []corev1.Container{{
			Name:            "maptask-install",
			Image:           ij.WorkerImage,
			ImagePullPolicy: o.PullPolicy,
			Env: []corev1.EnvVar{{Name: remote.EnvWorker, Value: "1"},
				{Name: remote.EnvInstall, Value: installDir + WorkerPath},
				{Name: "TMPDIR", Value: ScratchDir}},
			VolumeMounts:    append([]corev1.VolumeMount{mount}, scratchMount...),
			SecurityContext: containerSecurity(),
		}}
		main.Image = ij.TaskImage
		main.Command = []string{installDir + WorkerPath}
		main.VolumeMounts = append(main.VolumeMounts, mount)
	}
	pod.Containers = []corev1.Container{main}
	if job.Timeout > 0 {
		// The pod runs a batch: its deadline covers every element plus a minute.
		longest := 1
		for _, t := range ij.Tasks {
			longest = max(longest, len(t))
		}
		d := int64((time.Duration(longest)*job.Timeout + time.Minute).Seconds())
		pod.ActiveDeadlineSeconds = &d
	}
	if job.Interruptible {
		pod.Tolerations = o.InterruptibleTolerations
		pod.Affinity = o.InterruptibleAffinity
	}
	maxFailed := int32(max(ij.MaxFailedIndexes, 0))
	ttl := int32(3600) // a safety net: the driver deletes its Jobs itself
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ij.Name,
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: map[string]string{AnnotationID: job.Execution},
		},
		Spec: batchv1.JobSpec{
			CompletionMode:          &mode,
			Completions:             &completions,
			Parallelism:             &parallelism,
			BackoffLimitPerIndex:    &retries,
			MaxFailedIndexes:        &maxFailed,
			TTLSecondsAfterFinished: &ttl,
			// No successPolicy: it would end the Job, and its running indexes,
			// as soon as it is met. The map's verdict is the engine's.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{ // an eviction or preemption: not the element's fault, and not a retry
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				},
				{ // the worker was stopped (its pod deleted): run the index again, at no cost
					Action: batchv1.PodFailurePolicyActionIgnore,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values: []int32{remote.ExitStopped},
					},
				},
				{ // Kubernetes retries only what the worker says may be retried (exit 1):
					// permanent failures, spent retries, a worker that cannot run the map,
					// and crashes (a signal, OOM: the engine's system budget) end the index.
					Action: batchv1.PodFailurePolicyActionFailIndex,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{remote.ExitElementFailed},
					},
				},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{AnnotationID: job.Execution}},
				Spec:       pod,
			},
		},
	}, nil
}

var mode = batchv1.IndexedCompletion

// user returns the pods' user and group ids.
func (o JobOptions) user() (uid, gid int64, err error) {
	uid, gid = o.RunAsUser, o.RunAsGroup
	if uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("maptask: kubernetes: RunAsUser %d, RunAsGroup %d: want a user id above 0 (0 means %d)", uid, gid, DefaultUser)
	}
	if uid == 0 {
		uid = DefaultUser
	}
	if gid == 0 {
		gid = DefaultUser
	}
	return uid, gid, nil
}

// containerSecurity is every container's part of the "restricted" Pod
// Security Standard, with a read-only root filesystem.
func containerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(true),
		RunAsNonRoot:             ptr(true),
	}
}

// mount is a directory every pod sees at path: from the node (hostPath), or
// from a PersistentVolumeClaim.
type mount struct{ path, claim string }

// directories lists what pods mount: a file:// store's directory (from
// StoreClaim, else the node), then HostPaths.
func (o JobOptions) directories(storeURL string) ([]mount, error) {
	var out []mount
	if dir, ok := storeDir(storeURL); ok {
		out = append(out, mount{path: dir, claim: o.StoreClaim})
	} else if o.StoreClaim != "" {
		return nil, fmt.Errorf("maptask: kubernetes: StoreClaim %q is for a file:// store, not %s", o.StoreClaim, storeURL)
	}
	for _, dir := range o.HostPaths {
		out = append(out, mount{path: dir})
	}
	return out, nil
}

// storeDir is the directory of a file:// store: the same path on every node
// (a shared filesystem, or a one-node cluster) or in the StoreClaim volume.
func storeDir(storeURL string) (string, bool) {
	if storeURL != "" && !strings.Contains(storeURL, "://") {
		// A plain path (as Check sees it; Run gets the store's own URL).
		dir, err := filepath.Abs(storeURL)
		return dir, err == nil
	}
	dir, ok := strings.CutPrefix(storeURL, "file://")
	if !ok {
		return "", false
	}
	dir, _, _ = strings.Cut(dir, "?")
	return dir, true
}

// TasksOf reads back which attempts each index of a Job built by BuildJob
// runs: how a restarted driver reattaches to it.
func TasksOf(j *batchv1.Job) ([][]backend.Attempt, error) {
	if len(j.Spec.Template.Spec.Containers) == 0 || j.Spec.Completions == nil {
		return nil, fmt.Errorf("job %s: not a maptask Job", j.Name)
	}
	vals := map[string]string{}
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		vals[e.Name] = e.Value
	}
	tasks, err := remote.ArrayTasks(vals, int(*j.Spec.Completions))
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", j.Name, err)
	}
	return tasks, nil
}

func ptr[T any](v T) *T { return &v }

// labelValue is id when it is a valid label value, else a shortened form with
// a hash of the whole id (the full id is in an annotation).
func labelValue(id string) string {
	if len(validation.IsValidLabelValue(id)) == 0 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	short := strings.Trim(id[:min(len(id), 40)], "-_.")
	return short + "-" + hex.EncodeToString(sum[:])[:16]
}

// resourceRequirements translates a task's resources; GPUs are nvidia.com/gpu.
func resourceRequirements(r backend.Resources) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	add := func(list *corev1.ResourceList, field string, name corev1.ResourceName, v string) error {
		if v == "" {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("maptask: kubernetes: Resources %s %q: %v", field, v, err)
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	for _, f := range []struct {
		list  *corev1.ResourceList
		field string
		name  corev1.ResourceName
		v     string
	}{
		{&out.Requests, "Requests.CPU", corev1.ResourceCPU, r.CPU},
		{&out.Requests, "Requests.Memory", corev1.ResourceMemory, r.Memory},
		{&out.Requests, "Requests.GPU", "nvidia.com/gpu", r.GPU},
		{&out.Limits, "Limits.CPU", corev1.ResourceCPU, r.LimitCPU},
		{&out.Limits, "Limits.Memory", corev1.ResourceMemory, r.LimitMemory},
		{&out.Limits, "Limits.GPU", "nvidia.com/gpu", remote.First(r.LimitGPU, r.GPU)}, // extended resources need a limit
	} {
		if err := add(f.list, f.field, f.name, f.v); err != nil {
			return out, err
		}
	}
	return out, nil
}
