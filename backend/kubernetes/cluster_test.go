package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/internal/testenv"
)

// The cluster tests need `eval "$(hack/kube.sh start)"` (make test does it):
// KUBECONFIG, MAPTASK_TEST_KUBE=1 and MAPTASK_TEST_REGISTRY. Pods reach the
// tests' files through hostPath mounts of one directory, so every temporary
// directory of this test binary is made under it; pods run as
// kubernetes.DefaultUser, so what they write to belongs to that user
// (forPods).
func TestMain(m *testing.M) {
	maptask.Init()
	if os.Getenv("KUBE_TEST_DRIVER") != "" {
		os.Exit(driver())
	}
	if os.Getenv("MAPTASK_TEST_KUBE") != "" && os.Getenv("KUBE_TEST_ROOT") == "" {
		root, err := os.MkdirTemp("", "maptask-kube-test-")
		if err != nil {
			panic(err)
		}
		os.Chmod(root, 0o777)
		os.Setenv("KUBE_TEST_ROOT", root)
		os.Setenv("TMPDIR", root)
		// Maps that name no store use one the pods' user owns, here.
		store := filepath.Join(root, "default-store")
		if err := os.Mkdir(store, 0o700); err != nil {
			panic(err)
		}
		if err := os.Chown(store, kubernetes.DefaultUser, kubernetes.DefaultUser); err != nil {
			panic(err)
		}
		os.Setenv("MAPTASK_STORE", "file://"+store)
		// The worker: this test package built statically, once (a cold build
		// takes minutes, more than a test's deadline).
		worker := filepath.Join(root, "worker.test")
		build := exec.Command("go", "test", "-c", "-trimpath", "-o", worker, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the worker: %v\n%s", err, out)
			os.Exit(1)
		}
		os.Setenv("KUBE_TEST_WORKER", worker)
		code := m.Run()
		cleanupNamespace()
		os.RemoveAll(root)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// forPods returns a new temporary directory of the test for its pods (a store,
// or where tasks record their runs): pods run as kubernetes.DefaultUser, not
// root like the test, so it and everything under the test's temporary root
// so far (and the root itself, which pods cross) are given to that user. A
// store the driver opens there creates its files for the same user.
func forPods(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Dir(dir)
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, kubernetes.DefaultUser, kubernetes.DefaultUser)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func requireKube(t *testing.T) {
	t.Helper()
	if os.Getenv("MAPTASK_TEST_KUBE") == "" {
		testenv.Require(t, "a Kubernetes cluster", "run `eval \"$(hack/kube.sh start)\"` or `make test`")
	}
}

var (
	nsOnce sync.Once
	nsName string
	nsErr  error
)

func admin(t testing.TB) k8s.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	return k8s.NewForConfigOrDie(cfg)
}

// namespace is this test run's own namespace, deleted at the end.
func namespace(t *testing.T) string {
	t.Helper()
	nsOnce.Do(func() {
		var b [4]byte
		rand.Read(b[:])
		nsName = "maptask-test-" + hex.EncodeToString(b[:])
		_, nsErr = admin(t).CoreV1().Namespaces().Create(context.Background(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}, metav1.CreateOptions{})
		if nsErr == nil {
			nsErr = waitServiceAccount(admin(t), nsName, "default")
		}
	})
	if nsErr != nil {
		t.Fatal(nsErr)
	}
	return nsName
}

func waitServiceAccount(c k8s.Interface, ns, name string) error {
	for range 100 {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("service account %s/%s never appeared", ns, name)
}

func cleanupNamespace() {
	if nsName == "" {
		return
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return
	}
	k8s.NewForConfigOrDie(cfg).CoreV1().Namespaces().Delete(context.Background(), nsName, metav1.DeleteOptions{})
}

// newBackend runs on the test cluster; the worker is this test package,
// built statically by TestMain (the race-enabled test binary is not static).
func newBackend(t *testing.T) *kubernetes.Backend {
	return &kubernetes.Backend{
		JobOptions: kubernetes.JobOptions{Namespace: namespace(t), HostPaths: []string{os.Getenv("KUBE_TEST_ROOT")}},
		Registry:   os.Getenv("MAPTASK_TEST_REGISTRY") + "/maptask-kube-test",
		Insecure:   true,
		Executable: os.Getenv("KUBE_TEST_WORKER"),
	}
}

// shared keeps one Backend for the suite, so the worker is built and pushed once.
var shared struct {
	sync.Mutex
	b *kubernetes.Backend
}

func sharedBackend(t *testing.T) *kubernetes.Backend {
	shared.Lock()
	defer shared.Unlock()
	if shared.b == nil {
		shared.b = newBackend(t)
	}
	return shared.b
}

func TestConformance(t *testing.T) {
	requireKube(t)
	// Each check's store and record directory belong to the pods' user.
	backendtest.RunWithStore(t, func(t *testing.T) backend.Backend { return sharedBackend(t) },
		func(t *testing.T) string { return "file://" + forPods(t) })
	noPodsLeft(t)
}

// noPodsLeft checks that every Job and pod of the tests' maps was deleted.
func noPodsLeft(t *testing.T) {
	t.Helper()
	c := admin(t)
	sel := metav1.ListOptions{LabelSelector: kubernetes.LabelManaged + "=maptask"}
	for range 300 {
		pods, err1 := c.CoreV1().Pods(namespace(t)).List(context.Background(), sel)
		jobs, err2 := c.BatchV1().Jobs(namespace(t)).List(context.Background(), sel)
		if err1 == nil && err2 == nil && len(pods.Items) == 0 && len(jobs.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("pods or Jobs of finished maps are still in the cluster")
}

// runningPod finds a running pod of an execution, if any.
func runningPod(t *testing.T, c k8s.Interface, execution string) *corev1.Pod {
	pods, err := c.CoreV1().Pods(namespace(t)).List(context.Background(),
		metav1.ListOptions{LabelSelector: kubernetes.LabelExecution + "=" + execution})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			return p
		}
	}
	return nil
}

// An evicted pod (as a node drain or preemption does) and a deleted one cost
// the element nothing: its index runs again and completes, with no retries at
// all allowed.
func TestDisruptedPodsCompleteWithoutSpendingRetries(t *testing.T) {
	requireKube(t)
	b := sharedBackend(t)
	c := admin(t)
	for _, how := range []string{"evict", "delete"} {
		t.Run(how, func(t *testing.T) {
			dir := forPods(t)
			id := "disrupt-" + how
			done := make(chan struct{})
			go func() {
				defer close(done)
				for backendtest.Runs(dir, 0) == 0 {
					time.Sleep(50 * time.Millisecond)
				}
				for {
					p := runningPod(t, c, id)
					if p != nil {
						var err error
						if how == "evict" {
							err = c.PolicyV1().Evictions(p.Namespace).Evict(context.Background(),
								&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
						} else {
							err = c.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{})
						}
						if err != nil {
							t.Errorf("%s pod %s: %v", how, p.Name, err)
						}
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			res, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Retries(0)), backendtest.SlowInputs(dir, 1, 4*time.Second),
				maptask.Backend(b), maptask.StoreURL(forPods(t)), maptask.Execution(id))
			<-done
			if err != nil {
				t.Fatal(err)
			}
			if r := res.At(0); r.Err != nil || r.Value != 0 || backendtest.Runs(dir, 0) != 2 {
				t.Fatalf("element 0: %+v, ran %d times", r, backendtest.Runs(dir, 0))
			}
		})
	}
}

// A driver killed mid-map leaves its Job running; a new driver of the same
// execution adopts it: no element runs twice.
func TestRestartedDriverReattaches(t *testing.T) {
	requireKube(t)
	dir, st := forPods(t), forPods(t)
	backendtest.RestartDriver(t, dir, 6, "KUBE_TEST_DRIVER=1", "KUBE_TEST_DIR="+dir, "KUBE_TEST_STORE="+st, "KUBE_TEST_NS="+namespace(t))
	noPodsLeft(t)
}

// driver maps backendtest.Slow over 6 elements; the reattach test runs it twice. Its
// worker is cross-built from this package (the driver is not static).
func driver() int {
	dir := os.Getenv("KUBE_TEST_DIR")
	b := &kubernetes.Backend{
		JobOptions: kubernetes.JobOptions{Namespace: os.Getenv("KUBE_TEST_NS"), HostPaths: []string{os.Getenv("KUBE_TEST_ROOT")}},
		Registry:   os.Getenv("MAPTASK_TEST_REGISTRY") + "/maptask-kube-test", Insecure: true, BuildPackage: ".",
	}
	res, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(dir, 6, 3*time.Second), maptask.Backend(b),
		maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(os.Getenv("KUBE_TEST_STORE")), maptask.Execution("reattach"))
	if err != nil || res.Succeeded() != 6 {
		if err == nil {
			err = errors.New("not every element succeeded")
		}
		fmt.Fprintln(os.Stderr, "driver:", err)
		return 1
	}
	return 0
}

// Bad input is refused with a clear error before anything is created.
func TestBadInputBeforeCreating(t *testing.T) {
	requireKube(t)
	ns := namespace(t)
	in := backendtest.SlowInputs(t.TempDir(), 1, 0)
	registry := os.Getenv("MAPTASK_TEST_REGISTRY")
	for name, c := range map[string]struct {
		b    *kubernetes.Backend
		task *maptask.Task[backendtest.SlowInput, int]
		want string
	}{
		"missing image": {newBackend(t), backendtest.Slow.WithOverrides(maptask.Image(registry + "/no-such-image:v1")),
			`image "` + registry + `/no-such-image:v1" does not exist`},
		"missing worker image": {&kubernetes.Backend{JobOptions: kubernetes.JobOptions{Namespace: ns}, WorkerImage: registry + "/no-worker:v1", Insecure: true}, backendtest.Slow,
			`image "` + registry + `/no-worker:v1" does not exist`},
		"missing namespace": {&kubernetes.Backend{JobOptions: kubernetes.JobOptions{Namespace: "no-such-namespace"}, Registry: registry + "/x", Insecure: true}, backendtest.Slow,
			`namespace "no-such-namespace" does not exist`},
		"bad memory": {newBackend(t), backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Limits: maptask.ResourceList{Memory: "2Gx"}})),
			`Resources Limits.Memory "2Gx"`},
		"bad cpu": {newBackend(t), backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{CPU: "two"}})),
			`Resources Requests.CPU "two"`},
	} {
		_, err := maptask.Map(context.Background(), c.task, in, maptask.Backend(c.b), maptask.StoreURL(t.TempDir()), maptask.Execution("bad-"+strings.ReplaceAll(name, " ", "-")))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	noPodsLeft(t)
	// No configuration at all.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := maptask.Map(context.Background(), backendtest.Slow, in, maptask.Backend(&kubernetes.Backend{Registry: registry + "/x"}), maptask.StoreURL(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "no cluster configured") {
		t.Errorf("no kubeconfig: %v", err)
	}
}

// The documented Role is enough to run a map, and grants nothing else.
func TestLeastPrivilegeRole(t *testing.T) {
	requireKube(t)
	ns, c, ctx := namespace(t), admin(t), context.Background()
	role := kubernetes.Role(ns, "maptask-driver")
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "maptask-driver", Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "maptask-driver", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns}}}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tok, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminCfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: adminCfg.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: adminCfg.CAData, CAFile: adminCfg.CAFile}}
	limited := k8s.NewForConfigOrDie(cfg)
	if _, err := limited.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the Role lets the driver list secrets: %v", err)
	}
	if _, err := limited.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the Role reaches another namespace: %v", err)
	}
	b := newBackend(t)
	b.Config = cfg
	dir := forPods(t)
	res, err := maptask.Map(ctx, backendtest.Slow, backendtest.SlowInputs(dir, 3, 0), maptask.Backend(b), maptask.StoreURL(forPods(t)), maptask.Execution("least-privilege"))
	if err != nil || res.Succeeded() != 3 {
		t.Fatalf("map with the Role's token: %v", err)
	}
}

// A map bigger than MaxIndexesPerJob is split into several Jobs, created as
// the earlier ones drain: the concurrency bound holds across them.
func TestShardedMapKeepsTheBound(t *testing.T) {
	requireKube(t)
	b := newBackend(t)
	b.MaxIndexesPerJob = 2
	c := admin(t)
	var mu sync.Mutex
	jobs := map[string]bool{}
	running, most := map[string]bool{}, 0
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace(t)),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kubernetes.LabelExecution + "=sharded" }))
	factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) {
		p := o.(*corev1.Pod)
		mu.Lock()
		defer mu.Unlock()
		jobs[p.Labels["batch.kubernetes.io/job-name"]] = true
		running[p.Name] = p.Status.Phase == corev1.PodRunning
		n := 0
		for _, r := range running {
			if r {
				n++
			}
		}
		most = max(most, n)
	}})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	dir := forPods(t)
	res, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(dir, 6, 2*time.Second), maptask.Backend(b),
		maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(forPods(t)), maptask.Execution("sharded"))
	if err != nil || res.Succeeded() != 6 {
		t.Fatalf("sharded map: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jobs) != 3 || most > 2 {
		t.Fatalf("%d Jobs (want 3), at most %d pods running at once (bound 2)", len(jobs), most)
	}
}

// An image the nodes cannot pull (one the driver could not prove missing:
// its registry does not answer) fails the map as soon as a pod says so,
// naming the image, and leaves no pods behind.
func TestUnpullableImageFailsFast(t *testing.T) {
	requireKube(t)
	b := newBackend(t)
	b.Image = "127.0.0.1:5999/nowhere/app:v1" // nothing listens there
	start := time.Now()
	_, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(t.TempDir(), 3, 0), maptask.Backend(b),
		maptask.StoreURL(t.TempDir()), maptask.Execution("unpullable"))
	if err == nil || !strings.Contains(err.Error(), `cannot pull image "127.0.0.1:5999/nowhere/app:v1"`) {
		t.Fatalf("map with an unpullable image: %v", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %v to fail", d)
	}
	noPodsLeft(t)
}
