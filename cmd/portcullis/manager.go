package main

import (
	"fmt"

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
			return manager.Run(cmd.Context(), cfg, opts)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "",
		"Path to a kubeconfig; defaults to $KUBECONFIG, the in-cluster service account, then ~/.kube/config.")
	opts.BindFlags(cmd.Flags())
	return cmd
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}
