package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/manifests"
)

// defaultControlPlaneDir is where `make controlplane` builds kube-apiserver
// and etcd.
const defaultControlPlaneDir = "bin/k8s/1.37.2-linux-amd64"

type devOptions struct {
	env     devenv.Options
	manager manager.Options
	samples bool
	verbose bool
}

func newDevCommand() *cobra.Command {
	opts := devOptions{manager: manager.DefaultOptions(), samples: true}
	opts.manager.MetricsAddr = "127.0.0.1:8080"
	opts.manager.ProbeAddr = "127.0.0.1:8081"
	opts.env.AssetsDir = defaultControlPlaneDir
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		opts.env.AssetsDir = dir
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local control plane with the CRDs, the samples and the manager",
		Long: `Start etcd and kube-apiserver on loopback, install the CRDs, apply the
samples and run the manager in this process, for trying Portcullis without a
cluster. It prints the kubeconfig to use with kubectl. Ctrl-C stops
everything; without --data-dir the state is thrown away.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.env.AssetsDir, "control-plane-dir", opts.env.AssetsDir,
		"Directory with the kube-apiserver and etcd binaries (built by 'make controlplane'); defaults to $KUBEBUILDER_ASSETS when set.")
	f.StringVar(&opts.env.DataDir, "data-dir", "",
		"Directory that keeps etcd's data, certificates and the kubeconfig across runs; empty means a temporary directory removed on exit.")
	f.IntVar(&opts.env.APIServerPort, "apiserver-port", 0,
		"Port of kube-apiserver on 127.0.0.1; 0 picks a free port.")
	f.BoolVar(&opts.samples, "samples", opts.samples, "Apply the samples of config/samples.")
	f.BoolVar(&opts.verbose, "control-plane-logs", false, "Show etcd's and kube-apiserver's own logs.")
	opts.manager.BindFlags(f)
	return cmd
}

func runDev(ctx context.Context, out io.Writer, opts devOptions) error {
	if err := checkAddrsFree(opts.manager.MetricsAddr, opts.manager.ProbeAddr); err != nil {
		return err
	}
	if opts.verbose {
		opts.env.Output = os.Stderr
	}
	fmt.Fprintln(out, "Starting etcd and kube-apiserver...")
	env, err := devenv.Start(opts.env)
	if err != nil {
		return err
	}
	err = serveDev(ctx, out, env, opts)
	fmt.Fprintln(out, "Stopping the control plane...")
	return errors.Join(err, env.Stop())
}

// serveDev applies the samples and runs the manager until ctx ends.
func serveDev(ctx context.Context, out io.Writer, env *devenv.Env, opts devOptions) error {
	fmt.Fprintf(out, "Control plane ready. Data in %s.\nUse it with:\n\n  export KUBECONFIG=%s\n  kubectl get portcullis -A\n\n",
		env.DataDir, env.KubeconfigPath)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mgr, err := manager.New(ctx, env.Config, opts.manager)
	if err != nil {
		return err
	}
	if opts.samples {
		if err := applySamples(ctx, env); err != nil {
			return err
		}
		fmt.Fprintln(out, "Applied the samples of config/samples.")
	}
	fmt.Fprintln(out, "Running the manager; press Ctrl-C to stop.")
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

func applySamples(ctx context.Context, env *devenv.Env) error {
	objs, err := manifests.DecodeFS(samples.Files, "*.yaml")
	if err != nil {
		return err
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	return manifests.Apply(ctx, c, "portcullis-dev", objs)
}

// checkAddrsFree fails early, before anything starts, when a listen address
// is taken.
func checkAddrsFree(addrs ...string) error {
	for _, addr := range addrs {
		if addr == "" || addr == "0" {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("address %s is not free (%w): stop what uses it or choose another with --metrics-bind-address / --health-probe-bind-address", addr, err)
		}
		_ = l.Close()
	}
	return nil
}
