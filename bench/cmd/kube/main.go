// Command kube measures maptask on a real Kubernetes cluster (start one with
// hack/kube.sh): 200 trivial elements through maptask (one pod each, like
// the peer) beside a hand-written Indexed Job of 200 pods running `true`,
// watched the same way, in the same run; then 20,000 elements with batching:
// elements per second and pods created.
//
//	eval "$(hack/kube.sh start)"; go run ./bench/cmd/kube
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/bench"
	"github.com/maptask/maptask/internal/testenv"
)

func main() {
	maptask.Init()
	n := flag.Int("n", 200, "elements for the comparison with a hand-written Indexed Job")
	big := flag.Int("big", 20000, "elements for the batching run")
	j := flag.Int("j", 10, "concurrency (pods at once)")
	registry := flag.String("registry", os.Getenv("MAPTASK_TEST_REGISTRY"), "plain-HTTP registry the nodes pull from")
	flag.Parse()
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	check(err)
	client := k8s.NewForConfigOrDie(cfg)
	ns := fmt.Sprintf("maptask-bench-%d", time.Now().Unix())
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	check(err)
	defer client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	for {
		if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	dir, err := os.MkdirTemp("", "maptask-bench-kube")
	check(err)
	defer os.RemoveAll(dir)
	// Pods run as kubernetes.DefaultUser: they cross dir and own the store.
	check(os.Chmod(dir, 0o755))
	check(os.Mkdir(filepath.Join(dir, "store"), 0o700))
	check(os.Chown(filepath.Join(dir, "store"), kubernetes.DefaultUser, kubernetes.DefaultUser))
	b := &kubernetes.Backend{JobOptions: kubernetes.JobOptions{Namespace: ns}, Registry: *registry + "/maptask-bench",
		Insecure: true, BuildPackage: "github.com/maptask/maptask/bench/cmd/kube"}

	// Both sides' images are pushed before anything is timed: a map of one
	// element pushes the worker image.
	busybox, err := testenv.BusyboxImage(*registry)
	check(err)
	_, err = maptask.Map(ctx, bench.Double, bench.Ints(1), maptask.Backend(b), maptask.StoreURL(filepath.Join(dir, "store")))
	check(err)

	// The peer: one Indexed Job, a pod per element running `true`, waited
	// for through an informer as maptask waits for its Jobs.
	peer := handWritten(ctx, client, ns, busybox, *n, *j)

	pods := countPods(client, ns)
	start := time.Now()
	res, err := maptask.Map(ctx, bench.Double, bench.Ints(*n), maptask.Backend(b), maptask.Concurrency(*j),
		maptask.BatchSize(1), maptask.StoreURL(filepath.Join(dir, "store")), maptask.Execution("kube-small"))
	check(err)
	ours := time.Since(start)
	if res.Succeeded() != *n {
		panic("not every element succeeded")
	}
	small := pods("kube-small")

	start = time.Now()
	res, err = maptask.Map(ctx, bench.Double, bench.Ints(*big), maptask.Backend(b), maptask.Concurrency(*j),
		maptask.StoreURL(filepath.Join(dir, "store")), maptask.Execution("kube-big"))
	check(err)
	large := time.Since(start)
	if res.Succeeded() != *big {
		panic("not every element succeeded")
	}

	fmt.Printf("%d trivial elements at concurrency %d on Kubernetes (one node)\n", *n, *j)
	fmt.Printf("  hand-written Indexed Job       %v\n", peer.Round(time.Millisecond))
	fmt.Printf("  maptask (one pod per element)  %v (%d pods)\n", ours.Round(time.Millisecond), small)
	fmt.Printf("  ratio maptask/hand-written: %.2f (goal <= 1.15)\n", ours.Seconds()/peer.Seconds())
	fmt.Printf("%d elements with batching: %v, %.0f elements/s, %d pods\n", *big, large.Round(time.Millisecond),
		float64(*big)/large.Seconds(), pods("kube-big"))
}

// handWritten runs n pods of `true` as one Indexed Job and returns how long
// it took until the Job was Complete.
func handWritten(ctx context.Context, client k8s.Interface, ns, image string, n, parallelism int) time.Duration {
	mode := batchv1.IndexedCompletion
	completions, par := int32(n), int32(parallelism)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hand-written", Namespace: ns},
		Spec: batchv1.JobSpec{CompletionMode: &mode, Completions: &completions, Parallelism: &par,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "true", Image: image, Command: []string{"/bin/true"}}}}}},
	}
	done := make(chan struct{})
	var once sync.Once
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Batch().V1().Jobs().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) {
		if o.(*batchv1.Job).Name != job.Name {
			return
		}
		for _, c := range o.(*batchv1.Job).Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				once.Do(func() { close(done) })
			}
		}
	}})
	stop := make(chan struct{})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	start := time.Now()
	_, err := client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	check(err)
	<-done
	elapsed := time.Since(start)
	close(stop)
	factory.Shutdown()
	bg := metav1.DeletePropagationBackground
	client.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	return elapsed
}

// countPods watches the namespace's pods from now on; the function it returns
// counts the distinct pods an execution created.
func countPods(client k8s.Interface, ns string) func(execution string) int {
	var mu sync.Mutex
	seen := map[string]map[types.UID]bool{}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		p := o.(*corev1.Pod)
		id := p.Labels[kubernetes.LabelExecution]
		mu.Lock()
		if seen[id] == nil {
			seen[id] = map[types.UID]bool{}
		}
		seen[id][p.UID] = true
		mu.Unlock()
	}})
	factory.Start(make(chan struct{}))
	return func(execution string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen[execution])
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
