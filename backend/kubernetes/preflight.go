package kubernetes

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8s "k8s.io/client-go/kubernetes"
)

// permission is one verb the driver uses on one resource of its namespace.
type permission struct {
	group, resource, subresource, verb string
	why                                string // what the driver does with it
}

func (p permission) String() string {
	r := p.resource
	if p.subresource != "" {
		r += "/" + p.subresource
	}
	if p.group != "" {
		r += "." + p.group
	}
	return p.verb + " " + r
}

// permissions are every verb the driver uses in the map's namespace: Role
// grants them (and get on jobs and pods, for kubectl users).
var permissions = []permission{
	{"batch", "jobs", "", "create", "to start the map's Jobs"},
	{"batch", "jobs", "", "list", "to find Jobs an earlier driver left"},
	{"batch", "jobs", "", "watch", "to follow the Jobs"},
	{"batch", "jobs", "", "delete", "to remove the Jobs and their pods when the map ends"},
	{"", "pods", "", "list", "to find the Jobs' pods"},
	{"", "pods", "", "watch", "to follow the pods (failures, scheduling)"},
	{"", "pods", "log", "get", "to keep each pod's output in the store"},
}

// checkAccess asks the API server (SelfSubjectAccessReview) for every verb
// the driver uses in ns and names the missing ones. A cluster that does not
// answer reviews is not refused here: the map then fails when a call is
// refused.
func checkAccess(ctx context.Context, client k8s.Interface, ns string) error {
	denied := make([]string, len(permissions))
	var wg sync.WaitGroup
	for k, p := range permissions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Group: p.group, Resource: p.resource,
					Subresource: p.subresource, Verb: p.verb}}}
			got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err == nil && !got.Status.Allowed {
				denied[k] = fmt.Sprintf("%s (%s)", p, p.why)
			}
		}()
	}
	wg.Wait()
	denied = slices.DeleteFunc(denied, func(s string) bool { return s == "" })
	if len(denied) == 0 {
		return nil
	}
	return fmt.Errorf("maptask: kubernetes: not allowed in namespace %q: %s; bind the Role in the README (kubernetes.Role) to the driver's account",
		ns, strings.Join(denied, ", "))
}

// podRequests is what a pod of job asks the scheduler for: each container's
// requests (its limits where it sets no request, as the API server defaults
// them), the init containers' largest where that is more.
func podRequests(spec *corev1.PodSpec) corev1.ResourceList {
	sum := corev1.ResourceList{}
	of := func(c corev1.Container) corev1.ResourceList {
		r := c.Resources.Requests.DeepCopy()
		if r == nil {
			r = corev1.ResourceList{}
		}
		for name, q := range c.Resources.Limits {
			if _, ok := r[name]; !ok {
				r[name] = q
			}
		}
		return r
	}
	for _, c := range spec.Containers {
		for name, q := range of(c) {
			cur := sum[name]
			cur.Add(q)
			sum[name] = cur
		}
	}
	for _, c := range spec.InitContainers {
		for name, q := range of(c) {
			if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
				sum[name] = q
			}
		}
	}
	return sum
}

// checkFits refuses a Job whose pods no node could ever run: requests above
// the allocatable of every node the pods may go to (schedulable, matching the
// node selector). Only a definite answer refuses: a driver that may not list
// nodes (the Role does not grant it; nodes are cluster-wide), or a cluster
// with no such node (an autoscaler may add one), is left to PendingTimeout.
func checkFits(ctx context.Context, client k8s.Interface, j *batchv1.Job) error {
	want := podRequests(&j.Spec.Template.Spec)
	if len(want) == 0 {
		return nil
	}
	// From the API server's cache (ResourceVersion "0"): cheap on a big cluster.
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil
	}
	sel := labels.SelectorFromSet(j.Spec.Template.Spec.NodeSelector)
	largest := map[corev1.ResourceName]resource.Quantity{}
	where := map[corev1.ResourceName]string{}
	candidates := 0
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable || !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		candidates++
		fits := true
		for name, q := range want {
			have := n.Status.Allocatable[name]
			if q.Cmp(have) > 0 {
				fits = false
			}
			if cur, ok := largest[name]; !ok || have.Cmp(cur) > 0 {
				largest[name], where[name] = have, n.Name
			}
		}
		if fits {
			return nil
		}
	}
	if candidates == 0 {
		return nil
	}
	var over []string
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, string(name))
	}
	slices.Sort(names)
	for _, name := range names {
		q, most := want[corev1.ResourceName(name)], largest[corev1.ResourceName(name)]
		if q.Cmp(most) > 0 {
			over = append(over, fmt.Sprintf("%s %s (the most any node has is %s, on %s)", name, human(corev1.ResourceName(name), q), human(corev1.ResourceName(name), most), where[corev1.ResourceName(name)]))
		}
	}
	if len(over) == 0 {
		all := make([]string, len(names))
		for k, name := range names {
			q := want[corev1.ResourceName(name)]
			all[k] = name + " " + human(corev1.ResourceName(name), q)
		}
		return fmt.Errorf("maptask: kubernetes: no node can run a pod of this map: none has all of %s allocatable at once", strings.Join(all, ", "))
	}
	return fmt.Errorf("maptask: kubernetes: no node can run a pod of this map: it requests %s; lower the task's Resources", strings.Join(over, ", "))
}

// human writes a quantity as people do: CPUs and counts as a number
// ("1000", not "1k"), bytes in Mi, Gi or Ti with one decimal ("23.5Gi", not
// "24684092Ki").
func human(name corev1.ResourceName, q resource.Quantity) string {
	bytes := name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
	if !bytes || q.Value() < 1<<20 {
		return strconv.FormatFloat(q.AsApproximateFloat64(), 'f', -1, 64)
	}
	v, unit := float64(q.Value())/(1<<20), "Mi"
	for _, u := range []string{"Gi", "Ti"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + unit
}
