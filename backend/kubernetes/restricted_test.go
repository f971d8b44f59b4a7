package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/internal/testenv"
)

// PodFacts is what a pod says about how it runs.
type PodFacts struct {
	UID, GID     int
	Scratch      string // where os.CreateTemp put a file
	RootReadOnly bool   // writing to / fails with EROFS
}

// whoami reports how its pod runs, after sleeping (so the test sees the pod).
var whoami = maptask.NewTask("maptask.kubetest.whoami", func(ctx context.Context, sleep time.Duration) (PodFacts, error) {
	f := PodFacts{UID: os.Getuid(), GID: os.Getgid()}
	tmp, err := os.CreateTemp("", "scratch-")
	if err != nil {
		return f, err
	}
	f.Scratch = filepath.Dir(tmp.Name())
	tmp.Close()
	os.Remove(tmp.Name())
	_, err = os.Create("/maptask-root-write")
	f.RootReadOnly = errors.Is(err, syscall.EROFS)
	select {
	case <-time.After(sleep):
	case <-ctx.Done():
		return f, ctx.Err()
	}
	return f, nil
})

// A namespace enforcing the "restricted" Pod Security Standard admits the
// pods of a map (a pod that breaks it is refused at creation, and the map
// would never end): in the worker image, and in a task image with the worker
// copied in by an init container. The file:// store is a PersistentVolumeClaim
// (hostPath volumes are refused there) on a volume the admin made of the
// store's directory, which the pods' user owns.
func TestRestrictedNamespace(t *testing.T) {
	requireKube(t)
	c, ctx := admin(t), context.Background()
	ns := restrictedNamespace(t, c)

	// The standard is enforced: a pod that breaks it is refused.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "as-root", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
		t.Fatalf("a pod breaking the restricted standard: %v", err)
	}

	st := forPods(t)
	claim := storeClaim(t, c, ns, st)
	newBackend := func(claim string) *kubernetes.Backend {
		return &kubernetes.Backend{
			JobOptions: kubernetes.JobOptions{Namespace: ns, StoreClaim: claim},
			Registry:   os.Getenv("MAPTASK_TEST_REGISTRY") + "/maptask-kube-test",
			Insecure:   true,
			Executable: os.Getenv("KUBE_TEST_WORKER"),
		}
	}
	b := newBackend(claim)

	// A claim that does not exist is refused before anything is created
	// (pods would wait for it forever).
	short, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := maptask.Map(short, whoami, []time.Duration{0}, maptask.Backend(newBackend("no-such-claim")),
		maptask.StoreURL(st), maptask.Execution("restricted-no-claim"))
	if err == nil || !strings.Contains(err.Error(), `StoreClaim "no-such-claim": no such PersistentVolumeClaim`) {
		t.Fatalf("missing claim: %v", err)
	}

	busybox, err := testenv.BusyboxImage(os.Getenv("MAPTASK_TEST_REGISTRY"))
	if err != nil {
		t.Fatal(err)
	}
	for name, image := range map[string]string{"worker image": "", "task image": busybox} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			id := "restricted-" + strings.ReplaceAll(name, " ", "-")
			var opts []maptask.TaskOption
			if image != "" {
				opts = append(opts, maptask.Image(image))
			}
			seen := watchPod(c, ns, id)
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			start := time.Now()
			res, err := maptask.Map(ctx, whoami.WithOverrides(opts...), []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second},
				maptask.Backend(b), maptask.Concurrency(3), maptask.BatchSize(1), maptask.StoreURL(st), maptask.Execution(id))
			if err != nil {
				t.Fatalf("map in a restricted namespace: %v", err)
			}
			t.Logf("3 pods in a restricted namespace: %v", time.Since(start).Round(100*time.Millisecond))
			for i := range res.Len() {
				f := res.At(i).Value
				if f.UID != kubernetes.DefaultUser || f.GID != kubernetes.DefaultUser || f.Scratch != kubernetes.ScratchDir || !f.RootReadOnly {
					t.Errorf("element %d ran as %+v", i, f)
				}
			}
			pod := seen()
			if pod == nil {
				t.Fatal("no pod of the map was seen")
			}
			logPodSecurity(t, pod)
		})
	}
	noPodsLeftIn(t, c, ns)
}

// restrictedNamespace creates a namespace enforcing (and warning and
// auditing) the latest "restricted" Pod Security Standard, deleted at the end.
func restrictedNamespace(t *testing.T, c k8s.Interface) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	ns := "maptask-restricted-" + hex.EncodeToString(b[:])
	labels := map[string]string{}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = "restricted"
		labels["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) })
	if err := waitServiceAccount(c, ns, "default"); err != nil {
		t.Fatal(err)
	}
	return ns
}

// storeClaim is the admin's part: a PersistentVolume showing dir (a hostPath
// volume on this one-node cluster; NFS or the like on a real one) and a claim
// in ns bound to it. Both are deleted at the end. The binding is the
// persistent volume controller's work; on a cluster that does not run it,
// the test binds them the same way.
func storeClaim(t *testing.T, c k8s.Interface, ns, dir string) string {
	t.Helper()
	ctx := context.Background()
	size := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	pvName := ns + "-store"
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "maptask-store", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: modes, StorageClassName: ptr(""), VolumeName: pvName,
			Resources: corev1.VolumeResourceRequirements{Requests: size}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unprotect := func(del func() error, patch func([]byte) error) {
		// Without the protection controllers, the finalizers would keep
		// the objects (and the namespace) forever.
		del()
		patch([]byte(`{"metadata":{"finalizers":null}}`))
	}
	t.Cleanup(func() {
		unprotect(func() error {
			return c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, pvc.Name, metav1.DeleteOptions{})
		},
			func(p []byte) error {
				_, err := c.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, pvc.Name, types.MergePatchType, p, metav1.PatchOptions{})
				return err
			})
	})
	dirType := corev1.HostPathDirectory
	pv, err := c.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{Capacity: size, AccessModes: modes, StorageClassName: "",
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: pvc.Name, UID: pvc.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unprotect(func() error { return c.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}) },
			func(p []byte) error {
				_, err := c.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, p, metav1.PatchOptions{})
				return err
			})
	})
	for range 30 {
		got, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, pvc.Name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.ClaimBound {
			return pvc.Name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log("no persistent volume controller bound the claim: the test binds it")
	pv.Status.Phase = corev1.VolumeBound
	if _, err := c.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc, err = c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, pvc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, "pv.kubernetes.io/bind-completed", "yes")
	if pvc, err = c.CoreV1().PersistentVolumeClaims(ns).Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: modes, Capacity: size}
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pvc.Name
}

// watchPod polls the pods of an execution until one runs, in the background;
// the function it returns gives that pod (nil if none ran).
func watchPod(c k8s.Interface, ns, execution string) func() *corev1.Pod {
	var (
		mu   sync.Mutex
		pod  *corev1.Pod
		done = make(chan struct{})
	)
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelExecution + "=" + execution})
			if err == nil {
				for i := range pods.Items {
					if pods.Items[i].Status.Phase == corev1.PodRunning {
						mu.Lock()
						pod = &pods.Items[i]
						mu.Unlock()
						return
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() *corev1.Pod {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return pod
	}
}

// logPodSecurity logs the security-relevant part of a pod, as YAML.
func logPodSecurity(t *testing.T, p *corev1.Pod) {
	t.Helper()
	excerpt := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: p.Spec.AutomountServiceAccountToken,
			SecurityContext: p.Spec.SecurityContext, Volumes: p.Spec.Volumes}}
	for _, list := range []struct{ from, to *[]corev1.Container }{{&p.Spec.InitContainers, &excerpt.Spec.InitContainers}, {&p.Spec.Containers, &excerpt.Spec.Containers}} {
		for _, ct := range *list.from {
			*list.to = append(*list.to, corev1.Container{Name: ct.Name, Image: ct.Image, SecurityContext: ct.SecurityContext, VolumeMounts: ct.VolumeMounts})
		}
	}
	out, err := yaml.Marshal(excerpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod admitted in a restricted namespace (security excerpt):\n%s", out)
}

// noPodsLeftIn checks every Job and pod of the maps in ns was deleted.
func noPodsLeftIn(t *testing.T, c k8s.Interface, ns string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: kubernetes.LabelManaged + "=maptask"}
	for range 300 {
		pods, err1 := c.CoreV1().Pods(ns).List(context.Background(), sel)
		jobs, err2 := c.BatchV1().Jobs(ns).List(context.Background(), sel)
		if err1 == nil && err2 == nil && len(pods.Items) == 0 && len(jobs.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("pods or Jobs of finished maps are still in the cluster")
}

func ptr[T any](v T) *T { return &v }
