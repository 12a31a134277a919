package main

import (
	"errors"
	"fmt"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/manager"
)

func newManagerCommand() *cobra.Command {
	opts := manager.DefaultOptions()
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the controller manager against the current cluster",
		Long: `Run the controller manager. It reads the cluster from the in-cluster
service account, or from --kubeconfig / $KUBECONFIG outside a cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return fmt.Errorf("loading cluster configuration: %w", err)
			}
			setMemoryLimit()
			return manager.Run(cmd.Context(), cfg, opts)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "",
		"Path to a kubeconfig; defaults to $KUBECONFIG, the in-cluster service account, then ~/.kube/config.")
	opts.BindFlags(cmd.Flags())
	return cmd
}

// setMemoryLimit makes the garbage collector work harder as the heap nears
// 90 % of the container's memory limit (its cgroup's), instead of the
// kernel OOM-killing the manager: the Go runtime otherwise lets the heap
// grow to twice what is live. $GOMEMLIMIT, when set, wins; $AUTOMEMLIMIT
// changes the ratio ("off" turns it off). Without a limit nothing changes.
func setMemoryLimit() {
	if _, err := memlimit.Set(); err != nil && !errors.Is(err, memlimit.ErrNoCgroup) {
		ctrl.Log.Info("Cannot read the container's memory limit; GOMEMLIMIT not set", "reason", err.Error())
	}
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}
