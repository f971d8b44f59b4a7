// Command smoke checks a cluster started by hack/kube.sh end to end: it runs
// an Indexed Job (completions 5, parallelism 2 by default) of the given image,
// waits for it to complete, reads every pod's log, checks that each index
// printed "index=N", and deletes its namespace.
//
//	smoke -image 127.0.0.1:5000/echo-index:v1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	image := flag.String("image", "", "image whose entrypoint prints index=$JOB_COMPLETION_INDEX (required)")
	completions := flag.Int("completions", 5, "Job completions")
	parallelism := flag.Int("parallelism", 2, "Job parallelism")
	timeout := flag.Duration("timeout", 3*time.Minute, "overall time limit")
	keep := flag.Bool("keep", false, "keep the namespace afterwards")
	flag.Parse()
	if *image == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*kubeconfig, *image, int32(*completions), int32(*parallelism), *timeout, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "smoke: FAIL: %v\n", err)
		os.Exit(1)
	}
}

func run(kubeconfig, image string, completions, parallelism int32, timeout time.Duration, keep bool) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()

	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if !keep {
		defer func() {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		}()
	}
	// The namespace's "default" service account, which every pod needs, is
	// made by the serviceaccount controller shortly after the namespace.
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("no default service account in %s: %w", ns.Name, err)
	}

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "indexed"},
		Spec: batchv1.JobSpec{
			CompletionMode: ptr.To(batchv1.IndexedCompletion),
			Completions:    ptr.To(completions),
			Parallelism:    ptr.To(parallelism),
			BackoffLimit:   ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name:  "work",
						Image: image,
					}},
				},
			},
		},
	}
	job, err = cs.BatchV1().Jobs(ns.Name).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "smoke: created job %s/%s (completions %d, parallelism %d, image %s)\n",
		ns.Name, job.Name, completions, parallelism, image)

	var last string
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns.Name).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		job = j
		now := fmt.Sprintf("active=%d succeeded=%d failed=%d completed=%q", j.Status.Active, j.Status.Succeeded, j.Status.Failed, j.Status.CompletedIndexes)
		if now != last {
			fmt.Fprintf(os.Stderr, "smoke: %5.1fs %s\n", time.Since(start).Seconds(), now)
			last = now
		}
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return true, nil
			case batchv1.JobFailed:
				return false, fmt.Errorf("job failed: %s: %s", c.Reason, c.Message)
			}
		}
		return false, nil
	})
	if err != nil {
		describePods(cs, ns.Name)
		return err
	}

	pods, err := cs.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var lines []string
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded {
			continue
		}
		raw, err := cs.CoreV1().Pods(ns.Name).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", p.Name, err)
		}
		out := strings.TrimSpace(string(raw))
		idx := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		if !strings.HasPrefix(out, "index="+idx+" ") {
			return fmt.Errorf("pod %s (index %s) logged %q", p.Name, idx, out)
		}
		seen[idx] = true
		lines = append(lines, fmt.Sprintf("  %s on %s: %s", p.Name, p.Spec.NodeName, out))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, l)
	}
	for i := int32(0); i < completions; i++ {
		if !seen[fmt.Sprint(i)] {
			return fmt.Errorf("no successful pod logged index %d", i)
		}
	}
	fmt.Printf("smoke: PASS: indexed job %s/%s completed indexes %q in %.1fs, logs of all %d indexes read\n",
		ns.Name, job.Name, job.Status.CompletedIndexes, time.Since(start).Seconds(), completions)
	return nil
}

func describePods(cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(os.Stderr, "smoke: pod %s phase=%s node=%q\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, c := range p.Status.Conditions {
			fmt.Fprintf(os.Stderr, "    %s=%s %s %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil {
				fmt.Fprintf(os.Stderr, "    %s waiting: %s %s\n", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
			}
		}
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, e := range events.Items {
		fmt.Fprintf(os.Stderr, "smoke: event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
	}
}
