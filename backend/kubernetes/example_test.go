package kubernetes_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/kubernetes"
	_ "github.com/maptask/maptask/store/s3" // the s3:// store below
)

var embed = maptask.NewTask("example.embed", func(_ context.Context, doc string) (int, error) {
	return len(doc), nil // stands for real work in a pod
}, maptask.Retries(2), maptask.Interruptible(),
	maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{CPU: "2", Memory: "4Gi", GPU: "1"}}))

// A map as an Indexed Job: at most 200 pods at once, this program (built with
// CGO_ENABLED=0) pushed as the worker image, the store on S3 with credentials
// from a Secret, interruptible elements on the spot pool.
func ExampleBackend() {
	b := &kubernetes.Backend{
		JobOptions: kubernetes.JobOptions{
			Namespace:      "batch",
			ServiceAccount: "embedder",
			StoreSecret:    "s3-credentials",
			InterruptibleTolerations: []corev1.Toleration{
				{Key: "cloud.example.com/spot", Operator: corev1.TolerationOpExists},
			},
		},
		Registry: "registry.example.com/ml/maptask",
	}
	res, err := maptask.Map(context.Background(), embed, []string{"doc-1", "doc-2"},
		maptask.Backend(b), maptask.Concurrency(200), maptask.MinSuccessRatio(0.99),
		maptask.StoreURL("s3://ml-maptask/store?region=eu-west-1"), maptask.Execution("embed-2026-11"))
	fmt.Println(res.Len(), err)
}

// The Role a driver needs in its namespace, to apply with client-go (or as
// the YAML in the README).
func ExampleRole() {
	role := kubernetes.Role("batch", "maptask-driver")
	for _, rule := range role.Rules {
		fmt.Println(rule.Resources, rule.Verbs)
	}
	// Output:
	// [jobs] [get list watch create patch delete]
	// [pods] [get list watch]
	// [pods/log] [get]
}
