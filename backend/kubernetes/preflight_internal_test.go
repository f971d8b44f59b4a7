package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func list(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// A pod asks for its containers' requests (limits where no request is set),
// or its largest init container's where that is more.
func TestPodRequests(t *testing.T) {
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: list("cpu", "2")}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: list("cpu", "500m"), Limits: list("memory", "1Gi")}},
			{Resources: corev1.ResourceRequirements{Requests: list("cpu", "1", "memory", "1Gi")}},
		},
	}
	got := podRequests(spec)
	for name, want := range list("cpu", "2", "memory", "2Gi") {
		if q := got[name]; q.Cmp(want) != 0 {
			t.Errorf("%s: %s, want %s", name, q.String(), want.String())
		}
	}
}

func node(name string, cordoned bool, labels map[string]string, alloc corev1.ResourceList) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.NodeSpec{Unschedulable: cordoned}, Status: corev1.NodeStatus{Allocatable: alloc}}
}

func jobAsking(req corev1.ResourceList, selector map[string]string) *batchv1.Job {
	return &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: selector,
		Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: req}}}}}}}
}

func TestCheckFits(t *testing.T) {
	nodes := []runtime.Object{
		node("small", false, nil, list("cpu", "2", "memory", "4Gi")),
		node("wide", false, map[string]string{"pool": "big"}, list("cpu", "8", "memory", "1Gi")),
		node("cordoned", true, nil, list("cpu", "100", "memory", "100Gi")),
	}
	for _, c := range []struct {
		name     string
		job      *batchv1.Job
		nodes    []runtime.Object
		want     string // "" fits
		forbidNs bool
	}{
		{"fits one node", jobAsking(list("cpu", "4"), nil), nodes, "", false},
		{"nothing asked", jobAsking(nil, nil), nodes, "", false},
		{"cpu above every node", jobAsking(list("cpu", "16"), nil), nodes, "it requests cpu 16 (the most any node has is 8, on wide)", false},
		{"a cordoned node does not count", jobAsking(list("cpu", "50"), nil), nodes, "cpu 50 (the most any node has is 8, on wide)", false},
		{"each fits somewhere, not together", jobAsking(list("cpu", "4", "memory", "2Gi"), nil), nodes, "none has all of cpu 4, memory 2Gi", false},
		{"the node selector narrows", jobAsking(list("memory", "2Gi"), map[string]string{"pool": "big"}), nodes, "memory 2Gi (the most any node has is 1Gi, on wide)", false},
		{"a GPU no node has", jobAsking(list("nvidia.com/gpu", "1"), nil), nodes, "nvidia.com/gpu 1 (the most any node has is 0", false},
		{"no node matches: left to the pending bound", jobAsking(list("cpu", "1"), map[string]string{"pool": "none"}), nodes, "", false},
		{"nodes not listable: left to the pending bound", jobAsking(list("cpu", "16"), nil), nodes, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(c.nodes...)
			if c.forbidNs {
				client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("nodes is forbidden")
				})
			}
			err := checkFits(context.Background(), client, c.job)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("%v, want %q", err, c.want)
			}
		})
	}
}

func TestCheckAccess(t *testing.T) {
	for _, c := range []struct {
		name   string
		denied map[string]bool // "verb resource"
		err    error
		want   []string
	}{
		{"all allowed", nil, nil, nil},
		{"no delete on jobs", map[string]bool{"delete jobs": true}, nil, []string{"delete jobs.batch (to remove"}},
		{"no list on pods, no logs", map[string]bool{"list pods": true, "get pods": true}, nil, []string{"list pods (", "get pods/log ("}},
		{"reviews not answered: not refused here", nil, errors.New("the server could not find the requested resource"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := fake.NewSimpleClientset()
			client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if c.err != nil {
					return true, nil, c.err
				}
				r := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview).DeepCopy()
				attr := r.Spec.ResourceAttributes
				if attr.Namespace != "ns" {
					t.Errorf("review in namespace %q", attr.Namespace)
				}
				r.Status.Allowed = !c.denied[attr.Verb+" "+attr.Resource]
				return true, r, nil
			})
			err := checkAccess(context.Background(), client, "ns")
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("not refused")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "(to "); n != len(c.want) {
				t.Errorf("%v names %d permissions, want %d", err, n, len(c.want))
			}
		})
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct{ name, q, want string }{
		{"cpu", "1000", "1000"}, {"cpu", "500m", "0.5"}, {"memory", "24684092Ki", "23.5Gi"}, {"memory", "10Ti", "10Ti"},
		{"memory", "512Mi", "512Mi"}, {"memory", "10G", "9.3Gi"}, {"nvidia.com/gpu", "1", "1"}, {"memory", "1000", "1000"},
	} {
		if got := human(corev1.ResourceName(c.name), resource.MustParse(c.q)); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.name, c.q, got, c.want)
		}
	}
}
