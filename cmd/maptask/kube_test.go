package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/maptask/maptask/internal/testenv"
)

// maptask run --backend kubernetes runs the command in any image: an init
// container copies the static maptask binary in as the worker.
func TestRunOnKubernetes(t *testing.T) {
	if os.Getenv("MAPTASK_TEST_KUBE") == "" {
		testenv.Require(t, "a Kubernetes cluster", "run `eval \"$(hack/kube.sh start)\"` or `make test`")
	}
	registry := os.Getenv("MAPTASK_TEST_REGISTRY")
	image, err := testenv.BusyboxImage(registry)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "maptask")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a static maptask: %v\n%s", err, out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	client := k8s.NewForConfigOrDie(cfg)
	var b [4]byte
	rand.Read(b[:])
	ns := "maptask-cli-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	for range 100 { // pods need the namespace's default service account
		if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Pods run as user 65532 (not root, like this test): the store's
	// directory is theirs, and the driver creates its files for them.
	st := filepath.Join(dir, "store")
	if err := os.MkdirAll(st, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(st, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results.jsonl")
	cmd := exec.Command(bin, "run", "--store", st, "--execution", "kube-cli", "--backend", "kubernetes", "--image", image,
		"--registry", registry+"/maptask-cli", "--insecure-registry", "--namespace", ns, "--progress", "never",
		"--results", results, "-j", "2", "--", "echo", "hello from", "{}", ":::", "a", "b", "c")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("maptask run: %v\n%s", err, out)
	}
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("results:\n%s", data)
	}
	for _, line := range lines {
		var r resultLine
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Status != "succeeded" {
			t.Fatalf("result %s: %v", line, err)
		}
	}
	logs, err := exec.Command(bin, "logs", "--store", st, "kube-cli", "1").CombinedOutput()
	if err != nil || !strings.Contains(string(logs), "hello from b") {
		t.Fatalf("maptask logs kube-cli 1: %v\n%s", err, logs)
	}
}
