package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/worker"
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
	// preemptible nodes. An eviction there is a lost attempt (system budget).
	InterruptibleTolerations []corev1.Toleration
	InterruptibleAffinity    *corev1.Affinity
	PullPolicy               corev1.PullPolicy
}

// IndexedJob describes one Indexed Job: each index is a pod running the
// attempts of Tasks[index] one after the other.
type IndexedJob struct {
	Name    string
	Image   string
	Tasks   [][]backend.Attempt
	Retries int // per index, for failures the pod itself reports (backoffLimitPerIndex)
	// MaxFailedIndexes is how many indexes may fail before the Job gives up;
	// the map's verdict is the engine's, never the Job's condition.
	MaxFailedIndexes int
}

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
	lists := make([]string, len(ij.Tasks))
	for i, t := range ij.Tasks {
		lists[i] = worker.FormatAttempts(t)
	}
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: worker.EnvWorker, Value: "1"},
		{Name: worker.EnvStoreURL, Value: job.StoreURL},
		{Name: worker.EnvExecution, Value: job.Execution},
		{Name: worker.EnvTasks, Value: strings.Join(lists, ";")},
		{Name: worker.EnvWriter, Value: "k8s-$(POD_NAME)"},
	}
	if job.Timeout > 0 {
		env = append(env, corev1.EnvVar{Name: worker.EnvTimeout, Value: job.Timeout.String()})
	}
	if job.MaxLog > 0 {
		env = append(env, corev1.EnvVar{Name: worker.EnvMaxLog, Value: strconv.Itoa(job.MaxLog)})
	}
	labels := map[string]string{LabelExecution: labelValue(job.Execution), LabelManaged: "maptask"}
	for k, v := range o.Labels {
		labels[k] = v
	}
	completions := int32(len(ij.Tasks))
	parallelism := completions
	if job.Concurrency > 0 && int32(job.Concurrency) < completions {
		parallelism = int32(job.Concurrency)
	}
	mode := batchv1.IndexedCompletion
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever, // required by podFailurePolicy
		ServiceAccountName: o.ServiceAccount,
		NodeSelector:       o.NodeSelector,
		Containers: []corev1.Container{{
			Name:            "worker",
			Image:           ij.Image,
			ImagePullPolicy: o.PullPolicy,
			Env:             env,
			Resources:       resources,
		}},
	}
	if job.Timeout > 0 {
		// The pod runs a batch: its deadline covers every element plus a minute.
		d := int64((time.Duration(max(len(ij.Tasks[0]), 1))*job.Timeout + time.Minute).Seconds())
		pod.ActiveDeadlineSeconds = &d
	}
	if job.Interruptible {
		pod.Tolerations = o.InterruptibleTolerations
		pod.Affinity = o.InterruptibleAffinity
	}
	retries := int32(max(ij.Retries, 0))
	maxFailed := int32(max(ij.MaxFailedIndexes, 0))
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ij.Name,
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: map[string]string{AnnotationID: job.Execution},
		},
		Spec: batchv1.JobSpec{
			CompletionMode:       &mode,
			Completions:          &completions,
			Parallelism:          &parallelism,
			BackoffLimitPerIndex: &retries,
			MaxFailedIndexes:     &maxFailed,
			// No successPolicy: it would end the Job, and its running indexes,
			// as soon as it is met. The map's verdict is the engine's.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{ // an eviction or preemption: not the element's fault, and not a retry
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				},
				{ // every failure in the batch was permanent: retrying will not help
					Action: batchv1.PodFailurePolicyActionFailIndex,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values: []int32{worker.ExitPermanent, worker.ExitBadEnvironment, worker.ExitTaskNotFound,
							worker.ExitExecutionMissing, worker.ExitInputsMissing},
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
		{&out.Limits, "Limits.GPU", "nvidia.com/gpu", first(r.LimitGPU, r.GPU)}, // extended resources need a limit
	} {
		if err := add(f.list, f.field, f.name, f.v); err != nil {
			return out, err
		}
	}
	return out, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
