package kubernetes_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/maptask/maptask/backend/kubernetes"
)

// buildStatic compiles a tiny Go program without cgo: a static binary.
func buildStatic(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"worker\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "worker")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestPushProgram pushes a program to a real OCI registry (go-containerregistry's,
// on loopback), reads the image back, and checks an unchanged program is not
// pushed twice.
func TestPushProgram(t *testing.T) {
	var manifestPuts atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			manifestPuts.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/maptask/worker"
	program := buildStatic(t, t.TempDir())
	b := &kubernetes.ImageBuilder{Repository: repo, Insecure: true}
	ctx := context.Background()

	ref, err := b.Push(ctx, program)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, repo+"@sha256:") {
		t.Fatalf("reference %q is not by digest in %s", ref, repo)
	}
	digest, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != kubernetes.WorkerPath || cfg.Architecture != "amd64" || cfg.OS != "linux" {
		t.Fatalf("config: entrypoint %v, platform %s/%s", cfg.Config.Entrypoint, cfg.OS, cfg.Architecture)
	}
	if cfg.Config.User != "65532:65532" {
		t.Fatalf("the worker image runs as user %q, want 65532:65532 (not root)", cfg.Config.User)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The config's diff id is the uncompressed layer's (nodes check it).
	diffID := sha256.New()
	tr := tar.NewReader(io.TeeReader(rc, diffID))
	hdr, err := tr.Next()
	if err != nil || "/"+hdr.Name != kubernetes.WorkerPath || hdr.Mode&0o555 != 0o555 || hdr.Mode&0o022 != 0 {
		t.Fatalf("layer entry %+v, %v", hdr, err)
	}
	got, err := io.ReadAll(tr)
	want, _ := os.ReadFile(program)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the layer holds %d bytes, not the program's %d (%v)", len(got), len(want), err)
	}
	io.Copy(io.Discard, io.TeeReader(rc, diffID))
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0].Hex != hex.EncodeToString(diffID.Sum(nil)) {
		t.Fatalf("diff ids %v, want the layer's sha256:%x", cfg.RootFS.DiffIDs, diffID.Sum(nil))
	}

	puts := manifestPuts.Load()
	again, err := b.Push(ctx, program)
	if err != nil || again != ref {
		t.Fatalf("second push: %q, %v; want %q", again, err, ref)
	}
	if manifestPuts.Load() != puts {
		t.Fatal("an unchanged program was pushed again")
	}

	// The same program for another registry: the same image, pushed there.
	other := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer other.Close()
	otherRepo := strings.TrimPrefix(other.URL, "http://") + "/maptask/worker"
	there, err := (&kubernetes.ImageBuilder{Repository: otherRepo, Insecure: true}).Push(ctx, program)
	if err != nil || there != otherRepo+ref[len(repo):] {
		t.Fatalf("push to another registry: %q, %v; want the same digest as %q", there, err, ref)
	}
	if _, err := remote.Image(mustDigest(t, there)); err != nil {
		t.Fatalf("not in the other registry: %v", err)
	}
}

func mustDigest(t *testing.T, ref string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPushRefusesWhatNodesCannotRun(t *testing.T) {
	b := &kubernetes.ImageBuilder{Repository: "127.0.0.1:1/never", Insecure: true}
	ctx := context.Background()
	dyn, err := exec.LookPath("ls") // a dynamically linked Debian program
	if err != nil {
		t.Skip("no ls")
	}
	if _, err := b.Push(ctx, dyn); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic program: %v", err)
	}
	script := filepath.Join(t.TempDir(), "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if _, err := b.Push(ctx, script); err == nil || !strings.Contains(err.Error(), "not a Linux program") {
		t.Errorf("script: %v", err)
	}
	arm := &kubernetes.ImageBuilder{Repository: b.Repository, Insecure: true}
	arm.Platform.OS, arm.Platform.Architecture = "linux", "arm64"
	if _, err := arm.Push(ctx, buildStatic(t, t.TempDir())); err == nil || !strings.Contains(err.Error(), "nodes are linux/arm64") {
		t.Errorf("amd64 program for arm64 nodes: %v", err)
	}
}

// The image is referenced by the digest computed locally: a tag already
// pushed by someone else with another image is refused, naming both digests,
// and left as it is.
func TestPushRefusesATagNamingAnotherImage(t *testing.T) {
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	program := buildStatic(t, t.TempDir())
	ctx := context.Background()

	// Learn which tag the program gets, in a registry of our own.
	mine := httptest.NewServer(registry.New(quiet))
	defer mine.Close()
	myRepo := strings.TrimPrefix(mine.URL, "http://") + "/maptask/worker"
	ref, err := (&kubernetes.ImageBuilder{Repository: myRepo, Insecure: true}).Push(ctx, program)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(myRepo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil || len(tags) != 1 {
		t.Fatalf("tags %v, %v", tags, err)
	}
	want := ref[strings.Index(ref, "@")+1:]

	// Someone with push rights on the shared registry publishes another
	// image under that tag first.
	shared := httptest.NewServer(registry.New(quiet))
	defer shared.Close()
	sharedRepo := strings.TrimPrefix(shared.URL, "http://") + "/maptask/worker"
	tag, err := name.NewTag(sharedRepo+":"+tags[0], name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, other); err != nil {
		t.Fatal(err)
	}
	otherDigest, _ := other.Digest()

	got, err := (&kubernetes.ImageBuilder{Repository: sharedRepo, Insecure: true}).Push(ctx, program)
	if err == nil {
		t.Fatalf("Push used the pre-published tag: %s", got)
	}
	for _, s := range []string{tag.String(), otherDigest.String(), want} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if desc, err := remote.Head(tag); err != nil || desc.Digest != otherDigest {
		t.Errorf("the tag now names %v (%v), want it left alone", desc, err)
	}
}
