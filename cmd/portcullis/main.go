// Command portcullis is Portcullis's one binary: the controller manager and
// the tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		if errors.Is(err, errFailOn) || errors.Is(err, errRejected) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	zapOpts := zap.Options{}
	root := &cobra.Command{
		Use:   "portcullis",
		Short: "Keep remote contractors' access in line with policy and evidence",
		Long: `Portcullis is a Kubernetes-native access-policy controller for contractor
identities. It decides, with Rego policies, whether each contractor's access
grants stay active, are quarantined or revoked, and enforces that in the
connected systems.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			logger := zap.New(zap.UseFlagOptions(&zapOpts))
			ctrl.SetLogger(logger)
			cmd.SetContext(ctrl.LoggerInto(cmd.Context(), logger))
		},
	}
	goFlags := flag.NewFlagSet("logging", flag.ContinueOnError)
	zapOpts.BindFlags(goFlags)
	root.PersistentFlags().AddGoFlagSet(goFlags)
	root.AddCommand(newManagerCommand(), newDevCommand(), newEvalCommand(), newTestCommand(), newIngestCommand(), newExplainCommand())
	addVersion(root)
	return root
}
