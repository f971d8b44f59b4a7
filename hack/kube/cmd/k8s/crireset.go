package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criReset stops and removes every pod sandbox (and so every container) known
// to the CRI runtime at -endpoint. Stopping a sandbox through the CRI runs the
// CNI DEL of its network, which releases its address and deletes its veth and
// network namespace; killing the containers alone would leave those behind.
func criReset(args []string) int {
	fs := flag.NewFlagSet("cri-reset", flag.ExitOnError)
	endpoint := fs.String("endpoint", "unix:///run/containerd/containerd.sock", "CRI endpoint")
	timeout := fs.Duration("timeout", 60*time.Second, "overall time limit")
	_ = fs.Parse(args)

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: %v\n", err)
		return 1
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: list pod sandboxes: %v\n", err)
		return 1
	}
	failed := 0
	for _, sb := range resp.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: stop %s/%s: %v\n", sb.Metadata.GetNamespace(), sb.Metadata.GetName(), err)
			failed++
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: remove %s/%s: %v\n", sb.Metadata.GetNamespace(), sb.Metadata.GetName(), err)
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}
