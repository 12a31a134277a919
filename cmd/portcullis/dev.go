package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/portcullis-dev/portcullis/config/admission"
	libraryconfig "github.com/portcullis-dev/portcullis/config/policies"
	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/ingest"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// defaultControlPlaneDir is where `make controlplane` builds kube-apiserver
// and etcd, relative to the repository root.
var defaultControlPlaneDir = devenv.ControlPlaneDir("")

type devOptions struct {
	env      devenv.Options
	manager  manager.Options
	samples  bool
	library  bool
	verbose  bool
	geoipDir string
	// explicit reports whether a flag was given on the command line.
	explicit func(flag string) bool
}

// devTokenSecret holds the sign-in endpoint's token in the dev environment.
const devTokenSecret = "portcullis-system/portcullis-ingest-tokens"

func newDevCommand() *cobra.Command {
	opts := devOptions{manager: manager.DefaultOptions(), samples: true, library: true}
	opts.manager.MetricsAddr = "127.0.0.1:8080"
	opts.manager.ProbeAddr = "127.0.0.1:8081"
	opts.manager.MetricsSecure = false
	opts.manager.Webhook.Addr = "127.0.0.1:9443"
	opts.manager.Webhook.DNSNames = []string{devWebhookHost}
	// Names of its own, so that the chart installs into this control
	// plane beside it.
	opts.manager.Webhook.Secret = "portcullis-dev-webhook-cert"
	opts.manager.Webhook.Configuration = "portcullis-dev-validating-webhook"
	opts.manager.Ingest.Addr = "127.0.0.1:8082"
	opts.manager.Ingest.TokenSecret = devTokenSecret
	opts.manager.CredentialsNamespace, _, _ = strings.Cut(devTokenSecret, "/")
	opts.env.AssetsDir = defaultControlPlaneDir
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		opts.env.AssetsDir = dir
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local control plane with the CRDs, the samples and the manager",
		Long: `Start etcd and kube-apiserver on loopback, install the CRDs, apply the
samples and run the manager in this process, for trying Portcullis without a
cluster. It serves the sign-in endpoint on --ingest-bind-address with a new
token in <data dir>/ingest-token, uses the GeoIP databases of --geoip-dir when
they are there (make geoip) and the samples' Tor exit list. It prints the
kubeconfig to use with kubectl and the command that sends the sample sign-ins.
Ctrl-C stops everything; without --data-dir the state is thrown away.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.explicit = cmd.Flags().Changed
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
	f.BoolVar(&opts.library, "policy-library", opts.library, "Install the default policy library (config/policies).")
	f.BoolVar(&opts.verbose, "control-plane-logs", false, "Show etcd's and kube-apiserver's own logs.")
	f.StringVar(&opts.geoipDir, "geoip-dir", "bin/geoip",
		"Directory of GeoIP databases (city.mmdb and city-ipv6.mmdb, country.mmdb, asn.mmdb, anonymous-ip.mmdb; 'make geoip' fetches all but the last); each one there is used unless its --geoip-*-db flag is set. The city databases, which have coordinates for travel, come before country.mmdb.")
	opts.manager.BindFlags(f)
	return cmd
}

func runDev(ctx context.Context, out io.Writer, opts devOptions) error {
	if err := resolveAddrs(out, opts.explicit,
		devAddr{"metrics-bind-address", "metrics", &opts.manager.MetricsAddr},
		devAddr{"health-probe-bind-address", "health probes", &opts.manager.ProbeAddr},
		devAddr{"ingest-bind-address", "the sign-in endpoint", &opts.manager.Ingest.Addr},
		devAddr{"webhook-bind-address", "the validating webhook", &opts.manager.Webhook.Addr}); err != nil {
		return err
	}
	useGeoIPDir(&opts.manager.Ingest.Enricher, opts.geoipDir)
	if opts.verbose {
		opts.env.Output = os.Stderr
	}
	fmt.Fprintln(out, "Starting etcd and kube-apiserver...")
	env, err := devenv.Start(opts.env)
	if err != nil {
		return err
	}
	err = serveDev(ctx, out, env, opts)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil // interrupted while starting: a clean stop
	}
	fmt.Fprintln(out, "Stopping the control plane...")
	err = errors.Join(err, removeAdmission(env), removeWebhook(env, opts.manager.Webhook))
	return errors.Join(err, env.Stop())
}

// serveDev applies the samples and runs the manager until ctx ends.
func serveDev(ctx context.Context, out io.Writer, env *devenv.Env, opts devOptions) error {
	fmt.Fprintf(out, "Control plane ready. Data in %s.\nUse it with:\n\n  export KUBECONFIG=%s\n  kubectl get portcullis -A\n\n",
		env.DataDir, env.KubeconfigPath)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := createNamespace(ctx, env, opts.manager.CredentialsNamespace); err != nil {
		return err
	}
	ingestHint, err := prepareIngest(ctx, env, &opts.manager.Ingest)
	if err != nil {
		return err
	}
	if err := prepareWebhook(ctx, env, opts.manager.Webhook, opts.manager.CredentialsNamespace); err != nil {
		return err
	}
	mgr, err := manager.New(ctx, env.Config, opts.manager)
	if err != nil {
		return err
	}
	// The manager runs while the library and samples are applied: its
	// webhook judges them as it judges anyone's.
	stopped := make(chan error, 1)
	applyCtx, stopApplying := context.WithCancel(ctx)
	go func() {
		err := mgr.Start(ctx)
		stopApplying() // a manager that failed leaves nothing to wait for
		stopped <- err
	}()
	if err := applyAll(applyCtx, out, env, opts); err != nil {
		cancel()
		stopApplying()
		if mgrErr := <-stopped; mgrErr != nil {
			return fmt.Errorf("running manager: %w", mgrErr)
		}
		return err
	}
	stopApplying()
	fmt.Fprint(out, ingestHint)
	fmt.Fprintln(out, "Running the manager; press Ctrl-C to stop.")
	if err := <-stopped; err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// applyAll applies the admission policies, the library and the samples.
func applyAll(ctx context.Context, out io.Writer, env *devenv.Env, opts devOptions) error {
	if err := applyFS(ctx, env, admission.Files, admission.Pattern); err != nil {
		return err
	}
	if opts.library {
		if err := applyWaiting(ctx, env, libraryPolicies); err != nil {
			return err
		}
		fmt.Fprintln(out, "Installed the default policy library (config/policies).")
	}
	if opts.samples {
		if err := applyWaiting(ctx, env, sampleObjects); err != nil {
			return err
		}
		fmt.Fprintln(out, "Applied the samples of config/samples.")
	}
	return nil
}

// samplesWait bounds how long the samples wait for the admission
// policies, which read ConnectedSystems from an informer that starts with
// them and refuses every grant until it has synced, and for the manager's
// webhook to serve. A kube-apiserver that
// starts with the policies already in etcd, before the CRDs are served,
// takes up to about a minute to find the ConnectedSystem kind again.
const samplesWait = 2 * time.Minute

// removeAdmission deletes the admission policies when dev stops, so that a
// restart with a kept data directory creates them again after the CRDs,
// and needs not wait for kube-apiserver to find the kind they read.
func removeAdmission(env *devenv.Env) error {
	objs, err := manifests.DecodeFS(admission.Files, admission.Pattern)
	if err != nil {
		return err
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return manifests.Delete(ctx, c, objs)
}

// libraryPolicies are the default policy library's AccessPolicies.
func libraryPolicies() ([]*unstructured.Unstructured, error) {
	library, err := manifests.DecodeFS(libraryconfig.Files, "*.yaml")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(library, func(o *unstructured.Unstructured) bool { return o.GetKind() != "AccessPolicy" }), nil
}

// sampleObjects are the samples, their exceptions' expiry moved to after
// today; they tell their stories under the library and their own policy.
func sampleObjects() ([]*unstructured.Unstructured, error) {
	objs, err := manifests.DecodeFS(samples.Files, "*.yaml")
	if err != nil {
		return nil, err
	}
	samples.Refresh(objs, time.Now())
	return objs, nil
}

// applyWaiting applies objects, trying again while the admission policies
// or the webhook are not ready to judge them.
func applyWaiting(ctx context.Context, env *devenv.Env, objects func() ([]*unstructured.Unstructured, error)) error {
	objs, err := objects()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(samplesWait)
	for {
		// Server-side apply: applying again after a refusal is safe.
		err := apply(ctx, env, objs)
		if err == nil || !admissionRefused(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// admissionRefused reports whether an admission policy refused a request:
// while its informer or its param kind is not ready, it refuses every one,
// as Forbidden or Invalid depending on the check; a mutating one answers
// 503 until it knows the kind's schema.
func admissionRefused(err error) bool {
	if strings.Contains(err.Error(), "failed calling webhook") || apierrors.IsServiceUnavailable(err) {
		return true // not serving yet, or its CA or a kind not known yet
	}
	return (apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
}

// applyFS applies the manifests of fsys that match pattern.
func applyFS(ctx context.Context, env *devenv.Env, fsys fs.FS, pattern string) error {
	objs, err := manifests.DecodeFS(fsys, pattern)
	if err != nil {
		return err
	}
	return apply(ctx, env, objs)
}

func apply(ctx context.Context, env *devenv.Env, objs []*unstructured.Unstructured) error {
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	return manifests.Apply(ctx, c, "portcullis-dev", objs)
}

// useGeoIPDir fills in the databases found in dir that no flag named. The
// city databases (ip-location-db's GeoLite2 City, split into IPv4 and IPv6
// files) have countries and coordinates, so they are asked first, and the
// country database only for what they lack.
func useGeoIPDir(e *signals.EnricherOptions, dir string) {
	if dir == "" {
		return
	}
	found := func(file string) string {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err != nil {
			return ""
		}
		return path
	}
	if e.CountryDB == "" && e.FallbackCountryDBs == "" {
		var chain []string
		for _, file := range []string{"city.mmdb", "city-ipv6.mmdb", "country.mmdb"} {
			if path := found(file); path != "" {
				chain = append(chain, path)
			}
		}
		if len(chain) > 0 {
			e.CountryDB = chain[0]
			e.FallbackCountryDBs = strings.Join(chain[1:], string(filepath.ListSeparator))
		}
	}
	for _, db := range []struct {
		file string
		into *string
	}{{"asn.mmdb", &e.ASNDB}, {"anonymous-ip.mmdb", &e.AnonymousDB}} {
		if path := found(db.file); path != "" && *db.into == "" {
			*db.into = path
		}
	}
}

// createNamespace creates the manager's namespace, where it reads its
// credentials and keeps its state.
func createNamespace(ctx context.Context, env *devenv.Env, ns string) error {
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// prepareIngest creates the sign-in endpoint's token Secret, writes the
// token and the samples' Tor exit list into the data directory, and returns
// how to send the sample sign-ins.
func prepareIngest(ctx context.Context, env *devenv.Env, o *manager.IngestOptions) (string, error) {
	if o.Addr == "" || o.Addr == "0" {
		return "", nil
	}
	if o.Enricher.TorExitList == "" {
		o.Enricher.TorExitList = filepath.Join(env.DataDir, "tor-exits.txt")
		if err := os.WriteFile(o.Enricher.TorExitList, samples.TorExits, 0o600); err != nil {
			return "", fmt.Errorf("writing the samples' Tor exit list: %w", err)
		}
	}
	if o.TokenSecret != devTokenSecret {
		return fmt.Sprintf("Serving sign-ins on http://%s%s with the tokens of Secret %s.\n", o.Addr, ingest.Path, o.TokenSecret), nil
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := hex.EncodeToString(raw)
	tokenFile := filepath.Join(env.DataDir, "ingest-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the ingest token: %w", err)
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return "", fmt.Errorf("creating client: %w", err)
	}
	ns, name, _ := strings.Cut(devTokenSecret, "/")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, secret, func() error {
		secret.Data = map[string][]byte{"dev": []byte(token)}
		return nil
	}); err != nil {
		return "", fmt.Errorf("writing the token Secret %s: %w", devTokenSecret, err)
	}
	geo := "without GeoIP databases (run 'make geoip' for country, city coordinates and ASN)"
	if o.Enricher.CountryDB != "" {
		geo = "with " + o.Enricher.CountryDB
	}
	return fmt.Sprintf(`Serving sign-ins on http://%[1]s%[2]s, %[3]s. Send the samples with:

  bin/portcullis ingest -f config/samples/signins.ndjson --replay --url http://%[1]s --token-file %[4]s
  kubectl get findings,accessgrants -n contractors

`, o.Addr, ingest.Path, geo, tokenFile), nil
}
