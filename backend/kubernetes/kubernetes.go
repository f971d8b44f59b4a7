package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/worker"
)

// Backend runs maps as Indexed Jobs. Set the fields before the first map; a
// Backend is then safe to share between maps.
//
// The worker is this program: when it is a static Linux binary for the
// nodes' architecture it is pushed to Registry as a one-layer image
// (content-addressed: pushed once per build); otherwise BuildPackage is
// cross-built with CGO_ENABLED=0, or WorkerImage names a ready image. A task
// with its own image (maptask.Image, or Image here) runs in that image, with
// the worker copied in by an init container.
type Backend struct {
	JobOptions

	// Config is the cluster's client configuration; nil means it is loaded
	// from Kubeconfig, else $KUBECONFIG or ~/.kube/config, else the
	// in-cluster service account.
	Config     *rest.Config
	Kubeconfig string
	Context    string // kubeconfig context; "" for the current one

	// Image is the image tasks run in when they name none; "" runs them in
	// the worker image itself.
	Image string
	// WorkerImage is an image holding the worker at WorkerPath (built with
	// ImageBuilder, or by maptask's release); "" builds it from this program.
	WorkerImage string
	// Registry is the repository worker images are pushed to
	// ("registry.example.com/team/maptask"); Insecure allows plain HTTP.
	Registry string
	Insecure bool
	// Platform of the nodes ("linux/amd64", the default, or "linux/arm64").
	Platform string
	// Executable is the worker program to push; "" means this program.
	Executable string
	// BuildPackage is cross-built (go build, or go test -c for a test binary)
	// as the worker when the program is not a static Linux binary, like ko
	// does; "" means such a program is refused with an explanation.
	BuildPackage string
	// MaxIndexesPerJob shards bigger maps into several Jobs; default 10,000.
	MaxIndexesPerJob int

	mu     sync.Mutex
	client k8s.Interface
	ns     string
	images map[string]string // worker images pushed, by program path
}

var (
	_ backend.Remote             = (*Backend)(nil)
	_ backend.Checker            = (*Backend)(nil)
	_ backend.ConcurrencyLimiter = (*Backend)(nil)
)

// New returns a backend for the current kubeconfig context's namespace.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "kubernetes" }

// Remote implements backend.Remote.
func (*Backend) Remote() bool { return true }

// LimitsConcurrency implements backend.ConcurrencyLimiter: Jobs carry parallelism.
func (*Backend) LimitsConcurrency() bool { return true }

// connect loads the client configuration once.
func (b *Backend) connect() (k8s.Interface, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		return b.client, b.ns, nil
	}
	cfg := b.Config
	ns := b.Namespace
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = b.Kubeconfig
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: b.Context})
		var err error
		if cfg, err = cc.ClientConfig(); err != nil {
			if clientcmd.IsEmptyConfig(err) {
				return nil, "", errors.New("maptask: kubernetes: no cluster configured: set KUBECONFIG or write ~/.kube/config (or run inside a cluster)")
			}
			return nil, "", fmt.Errorf("maptask: kubernetes: loading the cluster configuration: %w", err)
		}
		if ns == "" {
			ns, _, _ = cc.Namespace()
		}
	}
	if ns == "" {
		ns = "default"
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = max(cfg.QPS, 50), max(cfg.Burst, 100)
	cfg.UserAgent = "maptask"
	client, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("maptask: kubernetes: %w", err)
	}
	b.client, b.ns = client, ns
	return client, ns, nil
}

func (b *Backend) options(ns string) JobOptions {
	o := b.JobOptions
	o.Namespace = ns
	return o
}

// Check implements backend.Checker. Before anything is created it proves the
// cluster is reachable, the namespace exists and Jobs may be created there
// (a server-side dry run of the map's first Job), the driver has every other
// permission it uses (SelfSubjectAccessReviews, naming what is missing),
// resources parse and some node has room for a pod (when the driver may list
// nodes), the task's image exists and the worker image can be made.
func (b *Backend) Check(ctx context.Context, job *backend.Job) error {
	if strings.HasPrefix(job.StoreURL, "mem://") {
		return fmt.Errorf("maptask: kubernetes backend: store %s lives in this process's memory; pods need S3 or a directory every node mounts", job.StoreURL)
	}
	client, ns, err := b.connect()
	if err != nil {
		return err
	}
	probe, err := BuildJob(b.options(ns), job, IndexedJob{Name: "maptask-check", WorkerImage: "maptask.invalid/worker",
		Tasks: [][]backend.Attempt{{{Index: 0, Number: 1}}}})
	if err != nil {
		return err
	}
	_, err = client.BatchV1().Jobs(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err := apiError(err, ns); err != nil {
		return err
	}
	if err := checkAccess(ctx, client, ns); err != nil {
		return err
	}
	if err := checkFits(ctx, client, probe); err != nil {
		return err
	}
	if b.StoreClaim != "" {
		// Pods would wait for a missing claim forever. Only a definite "no
		// such claim" is an error: the driver's Role need not read claims.
		_, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, b.StoreClaim, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("maptask: kubernetes: StoreClaim %q: no such PersistentVolumeClaim in namespace %q", b.StoreClaim, ns)
		}
	}
	for _, img := range []string{b.taskImage(job), b.WorkerImage} {
		if img == "" {
			continue
		}
		if err := b.imageExists(ctx, img); err != nil {
			return err
		}
	}
	_, err = b.workerImage(ctx)
	return err
}

// apiError explains what an API error means for a map; nil stays nil.
func apiError(err error, ns string) error {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err) && errors.As(err, &status) && status.Status().Details != nil && status.Status().Details.Kind == "namespaces":
		return fmt.Errorf("maptask: kubernetes: namespace %q does not exist", ns)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("maptask: kubernetes: not allowed to create Jobs in namespace %q (bind the Role in the README): %w", ns, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("maptask: kubernetes: the cluster refused our credentials: %w", err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("maptask: kubernetes: the cluster refused the Job: %w", err)
	}
	return fmt.Errorf("maptask: kubernetes: %w", err)
}

func (b *Backend) taskImage(job *backend.Job) string {
	if job.Image != "" {
		return job.Image
	}
	return b.Image
}

func (b *Backend) nameOptions() []name.Option {
	if b.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// registryAuth finds registry credentials as docker and other tools do.
var registryAuth = remote.WithAuthFromKeychain(authn.DefaultKeychain)

// imageExists asks the image's registry for it. Only a definite "no such
// image" is an error: a registry the nodes reach but this machine does not is
// left to the nodes.
func (b *Backend) imageExists(ctx context.Context, img string) error {
	ref, err := name.ParseReference(img, b.nameOptions()...)
	if err != nil {
		return fmt.Errorf("maptask: kubernetes: image %q: %w", img, err)
	}
	_, err = remote.Head(ref, remote.WithContext(ctx), registryAuth)
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode)) {
		return fmt.Errorf("maptask: kubernetes: image %q does not exist in its registry", img)
	}
	return nil
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

func (b *Backend) platform() (v1.Platform, error) {
	p := b.Platform
	if p == "" {
		p = "linux/amd64"
	}
	plat, err := v1.ParsePlatform(p)
	if err != nil || plat.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("maptask: kubernetes: Platform %q: want linux/amd64 or linux/arm64", p)
	}
	return *plat, nil
}

// workerImage returns the image holding the worker, pushing it if needed.
func (b *Backend) workerImage(ctx context.Context) (string, error) {
	if b.WorkerImage != "" {
		return b.WorkerImage, nil
	}
	if b.Registry == "" {
		return "", errors.New("maptask: kubernetes: set Registry (where the worker image is pushed) or WorkerImage")
	}
	plat, err := b.platform()
	if err != nil {
		return "", err
	}
	exe, err := worker.Program(b.Executable)
	if err != nil {
		return "", fmt.Errorf("maptask: kubernetes: %w", err)
	}
	b.mu.Lock()
	img, ok := b.images[exe]
	b.mu.Unlock()
	if ok {
		return img, nil
	}
	builder := &ImageBuilder{Repository: b.Registry, Platform: plat, Insecure: b.Insecure, Options: []remote.Option{registryAuth}}
	img, err = builder.Push(ctx, exe)
	if errors.Is(err, ErrNotStatic) && b.BuildPackage != "" {
		var built string
		if built, err = crossBuild(ctx, b.BuildPackage, plat); err == nil {
			defer os.RemoveAll(filepath.Dir(built))
			img, err = builder.Push(ctx, built)
		}
	}
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	if b.images == nil {
		b.images = map[string]string{}
	}
	b.images[exe] = img
	b.mu.Unlock()
	return img, nil
}

// crossBuild builds pkg as a static program for plat: go build, or go test -c
// when this program is a test binary (its tests register the tasks).
func crossBuild(ctx context.Context, pkg string, plat v1.Platform) (string, error) {
	dir, err := os.MkdirTemp("", "maptask-worker-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "worker")
	args := []string{"build", "-trimpath", "-o", out, pkg}
	if info, ok := debug.ReadBuildInfo(); ok && strings.HasSuffix(info.Path, ".test") || strings.HasSuffix(os.Args[0], ".test") {
		args = []string{"test", "-c", "-trimpath", "-o", out, pkg}
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture)
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("maptask: kubernetes: cross-building the worker (%s, CGO_ENABLED=0 GOARCH=%s): %v\n%s", pkg, plat.Architecture, err, msg)
	}
	return out, nil
}
