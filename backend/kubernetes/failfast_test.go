package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/internal/testenv"
)

// roleConfig is a client configuration for a new service account of ns
// bound to a Role with rules alone.
func roleConfig(t *testing.T, ns, name string, rules []rbacv1.PolicyRule) *rest.Config {
	t.Helper()
	c, ctx := admin(t), context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tok, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminCfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{Host: adminCfg.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: adminCfg.CAData, CAFile: adminCfg.CAFile}}
}

// jobsCreated watches the Jobs of an execution from now on; the function it
// returns says how many were created meanwhile.
func jobsCreated(t *testing.T, execution string) func() int {
	t.Helper()
	w, err := admin(t).BatchV1().Jobs(namespace(t)).Watch(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelExecution + "=" + execution})
	if err != nil {
		t.Fatal(err)
	}
	return func() int {
		time.Sleep(500 * time.Millisecond) // events in flight
		w.Stop()
		n := 0
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				n++
			}
		}
		return n
	}
}

// jobsLeft counts the Jobs and pods of an execution in the cluster now.
func jobsLeft(t *testing.T, execution string) (jobs, pods int) {
	t.Helper()
	c, sel := admin(t), metav1.ListOptions{LabelSelector: kubernetes.LabelExecution + "=" + execution}
	j, err := c.BatchV1().Jobs(namespace(t)).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.CoreV1().Pods(namespace(t)).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	return len(j.Items), len(p.Items)
}

var unschedulable = map[string]maptask.ResourceList{"cpu": {CPU: "1000"}, "memory": {Memory: "10Ti"}}

// A request above every node's allocatable is refused before anything is
// created, naming the resource, when the driver may list nodes.
func TestUnschedulableRefusedBeforeCreating(t *testing.T) {
	requireKube(t)
	for what, req := range unschedulable {
		t.Run(what, func(t *testing.T) {
			id := "too-big-" + what
			created := jobsCreated(t, id)
			start := time.Now()
			_, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: req})),
				backendtest.SlowInputs(t.TempDir(), 2, 0), maptask.Backend(sharedBackend(t)), maptask.StoreURL(t.TempDir()), maptask.Execution(id))
			t.Logf("%s: refused in %v: %v", what, time.Since(start).Round(time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), "no node can run a pod of this map: it requests "+what) {
				t.Fatalf("a %s request no node has: %v", what, err)
			}
			if n := created(); n != 0 {
				t.Fatalf("%d Jobs created", n)
			}
		})
	}
}

// A driver that may not list nodes (the README's Role) learns it from the
// scheduler: a pod Unschedulable for PendingTimeout fails the map with the
// scheduler's message, and the map returns once its Job is gone. Its
// elements never ran: no attempt is counted.
func TestUnschedulableFailsWithinTheBound(t *testing.T) {
	requireKube(t)
	ns := namespace(t)
	cfg := roleConfig(t, ns, "maptask-driver", kubernetes.Role(ns, "x").Rules)
	const bound = 5 * time.Second
	for what, req := range unschedulable {
		t.Run(what, func(t *testing.T) {
			b := newBackend(t)
			b.Config, b.PendingTimeout = cfg, bound
			id := "unschedulable-" + what
			start := time.Now()
			res, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: req})),
				backendtest.SlowInputs(t.TempDir(), 2, 0), maptask.Backend(b), maptask.StoreURL(forPods(t)), maptask.Execution(id))
			took := time.Since(start)
			t.Logf("%s: failed in %v: %v", what, took.Round(time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), "Unschedulable") || !strings.Contains(err.Error(), "Insufficient "+what) {
				t.Fatalf("an unschedulable %s request: %v", what, err)
			}
			if took > bound+30*time.Second {
				t.Errorf("took %v with a bound of %v", took, bound)
			}
			if jobs, pods := jobsLeft(t, id); jobs+pods != 0 {
				t.Errorf("the map returned with %d Jobs and %d pods left", jobs, pods)
			}
			for i := range res.Len() {
				if r := res.At(i); r.Attempts != 0 {
					t.Errorf("element %d never ran but shows %d attempts (%v)", i, r.Attempts, r.Err)
				}
			}
		})
	}
}

// A driver missing a permission it uses is refused before anything is
// created, with the verb and resource named.
func TestMissingPermissionRefusedBeforeCreating(t *testing.T) {
	requireKube(t)
	ns := namespace(t)
	without := func(resource, verb string) []rbacv1.PolicyRule {
		var rules []rbacv1.PolicyRule
		for _, r := range kubernetes.Role(ns, "x").Rules {
			r = *r.DeepCopy()
			if r.Resources[0] == resource {
				var verbs []string
				for _, v := range r.Verbs {
					if v != verb {
						verbs = append(verbs, v)
					}
				}
				r.Verbs = verbs
			}
			rules = append(rules, r)
		}
		return rules
	}
	for _, c := range []struct{ resource, verb, want string }{
		{"jobs", "delete", "delete jobs.batch"},
		{"pods", "list", "list pods"},
	} {
		t.Run(c.verb+"-"+c.resource, func(t *testing.T) {
			name := "no-" + c.verb + "-" + c.resource
			b := newBackend(t)
			b.Config = roleConfig(t, ns, name, without(c.resource, c.verb))
			created := jobsCreated(t, name)
			_, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(t.TempDir(), 2, 0), maptask.Backend(b),
				maptask.StoreURL(forPods(t)), maptask.Execution(name))
			t.Logf("without %s %s: %v", c.verb, c.resource, err)
			if err == nil || !strings.Contains(err.Error(), "not allowed in namespace") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("without %s on %s: %v", c.verb, c.resource, err)
			}
			if n := created(); n != 0 {
				t.Fatalf("%d Jobs created", n)
			}
		})
	}
}

// A Secret the pods need that does not exist (CreateContainerConfigError)
// fails the map at once, naming it.
func TestMissingSecretNamed(t *testing.T) {
	requireKube(t)
	b := newBackend(t)
	b.StoreSecret = "no-such-secret"
	start := time.Now()
	_, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(t.TempDir(), 2, 0), maptask.Backend(b),
		maptask.StoreURL(forPods(t)), maptask.Execution("missing-secret"))
	took := time.Since(start)
	t.Logf("failed in %v: %v", took.Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), `secret "no-such-secret" not found`) || !strings.Contains(err.Error(), "CreateContainerConfigError") {
		t.Fatalf("a missing Secret: %v", err)
	}
	if took > time.Minute {
		t.Errorf("took %v", took)
	}
	if jobs, pods := jobsLeft(t, "missing-secret"); jobs+pods != 0 {
		t.Errorf("the map returned with %d Jobs and %d pods left", jobs, pods)
	}
}

// shell runs its input with sh -c, as `maptask run` runs a command.
var shell = maptask.NewTask("maptask.kubetest.sh", func(ctx context.Context, script string) (int, error) {
	spec, err := command.NewSpec([]string{"sh", "-c", "{}"})
	if err != nil {
		return 0, err
	}
	r, err := command.Run(ctx, spec, command.Input{script})
	return r.ExitCode, err
}, maptask.Timeout(3*time.Second))

// What a command's end says is the same here as on the local backend: a
// command exiting 3 gives an error with ExitCode 3, and a timeout reads
// "timed out after 3s", once.
func TestResultsSayWhatHappened(t *testing.T) {
	requireKube(t)
	busybox, err := testenv.BusyboxImage(os.Getenv("MAPTASK_TEST_REGISTRY"))
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"exit 3", "sleep 10", "true"}
	local, _ := maptask.Map(context.Background(), shell, in, maptask.RunAll())
	res, _ := maptask.Map(context.Background(), shell.WithOverrides(maptask.Image(busybox)), in, maptask.Backend(sharedBackend(t)),
		maptask.StoreURL(forPods(t)), maptask.Execution("results"), maptask.BatchSize(1), maptask.RunAll())
	for i := range in {
		l, k := local.At(i), res.At(i)
		t.Logf("%q: local %v (exit %d), kubernetes %v (exit %d)", in[i], l.Err, exitCode(l.Err), k.Err, exitCode(k.Err))
		if exitCode(l.Err) != exitCode(k.Err) || errString(l.Err) != errString(k.Err) || l.Attempts != k.Attempts {
			t.Errorf("%q: local %v (exit %d, %d attempts), kubernetes %v (exit %d, %d attempts)", in[i],
				l.Err, exitCode(l.Err), l.Attempts, k.Err, exitCode(k.Err), k.Attempts)
		}
	}
	if c := exitCode(res.At(0).Err); c != 3 {
		t.Errorf("exit 3 gave exit code %d", c)
	}
	if msg := errString(res.At(1).Err); msg != "timed out after 3s" || !errors.Is(res.At(1).Err, context.DeadlineExceeded) {
		t.Errorf("a timeout reads %q", msg)
	}
	noPodsLeft(t)
}

func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(err)
}

// A delete the cluster refuses (the driver's Role lost it mid-map) is not
// ignored: the map fails naming the Job left behind.
func TestFailedDeleteNamed(t *testing.T) {
	requireKube(t)
	ns, c, ctx := namespace(t), admin(t), context.Background()
	const name = "loses-delete"
	b := newBackend(t)
	b.Config = roleConfig(t, ns, name, kubernetes.Role(ns, "x").Rules)
	dir := forPods(t)
	go func() {
		for backendtest.Runs(dir, 0) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		role, err := c.RbacV1().Roles(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		role.Rules[0].Verbs = []string{"get", "list", "watch", "create"}
		if _, err := c.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	res, err := maptask.Map(ctx, backendtest.Slow, backendtest.SlowInputs(dir, 1, 4*time.Second), maptask.Backend(b),
		maptask.StoreURL(forPods(t)), maptask.Execution(name))
	t.Logf("%v", err)
	if err == nil || !strings.Contains(err.Error(), "could not delete Job(s) mt-") || res.Succeeded() != 1 {
		t.Fatalf("a map whose Job could not be deleted: %v (%d succeeded)", err, res.Succeeded())
	}
	if jobs, _ := jobsLeft(t, name); jobs != 1 {
		t.Errorf("%d Jobs left, want the 1 named", jobs)
	}
	fg := metav1.DeletePropagationForeground
	c.BatchV1().Jobs(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &fg},
		metav1.ListOptions{LabelSelector: kubernetes.LabelExecution + "=" + name})
	noPodsLeft(t)
}

// unchecked is a Backend whose pre-flight check is skipped, to reach what
// Run does on its own.
type unchecked struct{ b *kubernetes.Backend }

func (u unchecked) Name() string            { return u.b.Name() }
func (u unchecked) Remote() bool            { return true }
func (u unchecked) LimitsConcurrency() bool { return true }
func (u unchecked) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	return u.b.Run(ctx, job, q)
}

// Without the pre-flight check, a watch the API server refuses still ends the
// map at once, naming the resource, before any Job is created: the
// informers' first listing does not wait forever.
func TestRefusedWatchNamed(t *testing.T) {
	requireKube(t)
	ns := namespace(t)
	var rules []rbacv1.PolicyRule
	for _, r := range kubernetes.Role(ns, "x").Rules {
		if r.Resources[0] != "pods" {
			rules = append(rules, r)
		}
	}
	const name = "no-pods-unchecked"
	b := newBackend(t)
	b.Config = roleConfig(t, ns, name, rules)
	created := jobsCreated(t, name)
	start := time.Now()
	_, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(t.TempDir(), 1, 0), maptask.Backend(unchecked{b}),
		maptask.StoreURL(forPods(t)), maptask.Execution(name))
	t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), `not allowed to list and watch pods in namespace`) {
		t.Fatalf("a driver that may not watch pods: %v", err)
	}
	if n := created(); n != 0 {
		t.Fatalf("%d Jobs created", n)
	}
}
