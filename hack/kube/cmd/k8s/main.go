// Command k8s is one binary holding the Kubernetes components that
// hack/kube.sh runs, chosen by the first argument:
//
//	k8s apiserver          [kube-apiserver flags]
//	k8s controller-manager [kube-controller-manager flags]
//	k8s scheduler          [kube-scheduler flags]
//	k8s kubelet            [kubelet flags]
//	k8s cri-reset -endpoint unix:///path/containerd.sock
//
// The first four are the real components of k8s.io/kubernetes, run exactly as
// their own main packages run them. cri-reset stops and removes every pod
// sandbox through the CRI, so that the CNI plugins release the pods' network
// namespaces, interfaces and addresses before containerd is stopped.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as in the upstream mains

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var components = map[string]func() *cobra.Command{
	"apiserver":          apiserver.NewAPIServerCommand,
	"controller-manager": controllermanager.NewControllerManagerCommand,
	"scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":            func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s apiserver|controller-manager|scheduler|kubelet|cri-reset [flags]\n", filepath.Base(os.Args[0]))
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name := os.Args[1]
	if name == "cri-reset" {
		os.Exit(criReset(os.Args[2:]))
	}
	newCommand, ok := components[name]
	if !ok {
		usage()
	}
	cmd := newCommand()
	// cobra reads os.Args[1:] unless told otherwise; drop the component name.
	cmd.SetArgs(os.Args[2:])
	os.Exit(cli.Run(cmd))
}
