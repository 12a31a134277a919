// Package ssf runs Portcullis as a Shared Signals transmitter and as a
// receiver, each a manager of its own on an API server of its own: a
// quarantine on cluster 1 reaches cluster 2 as CAEP session-revoked and
// RISC account-disabled, and its lifting as account-enabled.
package ssf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	libpolicies "github.com/portcullis-dev/portcullis/config/policies"
	"github.com/portcullis-dev/portcullis/config/samples"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/test/freeport"
	"github.com/portcullis-dev/portcullis/test/syncbuf"
)

const (
	system      = "portcullis-system"
	contractors = "contractors"
	contractor  = "alex-morgan"
	grant       = "alex-payments-edit"
	// receiverName is cluster 2 as cluster 1's transmitter knows it.
	receiverName  = "cluster-2"
	receiverToken = "cluster-2-token-0123456789abcdef" // #nosec G101 -- a test token
	pushToken     = "push-token-fedcba9876543210"      // #nosec G101 -- a test token
)

// cluster is one API server and the manager running against it.
type cluster struct {
	admin client.Client
	cfg   *rest.Config
}

func TestQuarantineTravelsToAnotherCluster(t *testing.T) {
	g := NewWithT(t)
	logs := &syncbuf.Buffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	ca := connectorstest.NewCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	write(t, caFile, ca.PEM)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// Cluster 1 transmits: its issuer is its Shared Signals endpoint.
	port1, err := freeport.Port()
	g.Expect(err).NotTo(HaveOccurred())
	issuer := fmt.Sprintf("https://localhost:%d", port1)
	one, _ := startCluster(ctx, t, "one", func(c client.Client) {
		g.Expect(c.Create(ctx, secret("ssf-keys", map[string][]byte{"k1.pem": signingKey(t), "active": []byte("k1")}))).To(Succeed())
		g.Expect(c.Create(ctx, secret("ssf-receivers", map[string][]byte{receiverName: []byte(receiverToken)}))).To(Succeed())
	})
	// Its manager runs as its service account, with exactly the RBAC that
	// config/default and config/ssf ship.
	installShippedRBAC(ctx, t, one.admin)
	one.cfg = rest.CopyConfig(one.cfg)
	one.cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + system + ":portcullis-controller-manager",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"}}
	runManager(ctx, t, one, func(o *manager.Options) {
		o.SSF.Addr = fmt.Sprintf("127.0.0.1:%d", port1)
		o.SSF.TLSCertFile, o.SSF.TLSKeyFile = writeCert(t, mkdir(t, dir, "one"), ca.Issue(t))
		o.SSF.Issuer = issuer
		o.SSF.SigningKeySecret, o.SSF.ReceiverTokenSecret = system+"/ssf-keys", system+"/ssf-receivers"
		o.SSF.ReceiverCAFile, o.SSF.AllowPrivateReceivers = caFile, true
	})

	// Cluster 2 receives by push, and weighs evidence with the default
	// library, in which an account-disabled quarantines.
	port2, err := freeport.Port()
	g.Expect(err).NotTo(HaveOccurred())
	two, env2 := startCluster(ctx, t, "two", func(c client.Client) {
		g.Expect(c.Create(ctx, secret("ssf-cluster-one", map[string][]byte{"token": []byte(receiverToken)}))).To(Succeed())
		g.Expect(c.Create(ctx, secret("ssf-push", map[string][]byte{"token": []byte(pushToken)}))).To(Succeed())
		lib, err := manifests.DecodeFS(libpolicies.Files, "risk.yaml")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(manifests.Apply(ctx, c, "test", lib)).To(Succeed())
	})
	certFile, keyFile := writeCert(t, mkdir(t, dir, "two"), ca.Issue(t))
	logs2 := runManagerProcess(t, env2, mkdir(t, dir, "process"),
		"--ssf-bind-address", fmt.Sprintf("127.0.0.1:%d", port2), "--ssf-tls-cert-file", certFile, "--ssf-tls-key-file", keyFile,
		"--ssf-receiver-url", fmt.Sprintf("https://localhost:%d", port2))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("cluster two's manager:\n" + logs2.String())
		}
	})
	stream := &accessv1alpha1.SignalStream{ObjectMeta: metav1.ObjectMeta{Name: "cluster-one"},
		Spec: accessv1alpha1.SignalStreamSpec{
			Issuer:               issuer,
			CredentialsSecretRef: accessv1alpha1.SecretKeyReference{Namespace: system, Name: "ssf-cluster-one"},
			TLS:                  &accessv1alpha1.SignalStreamTLS{CABundle: string(ca.PEM)},
			Delivery: accessv1alpha1.SignalStreamDelivery{Method: accessv1alpha1.SignalDeliveryPush,
				AuthorizationSecretRef: &accessv1alpha1.SecretKeyReference{Namespace: system, Name: "ssf-push"}},
		}}
	g.Expect(two.admin.Create(ctx, stream)).To(Succeed())
	g.Eventually(func(g Gomega) {
		s := &accessv1alpha1.SignalStream{}
		g.Expect(two.admin.Get(ctx, client.ObjectKeyFromObject(stream), s)).To(Succeed())
		g.Expect(s.Status.Verification.VerifiedAt).NotTo(BeNil(), "status: %+v", s.Status)
		g.Expect(s.Status.EventsDelivered).To(ConsistOf("session-revoked", "account-disabled", "account-enabled"))
		g.Expect(readyStatus(s.Status.Conditions)).To(Equal("True"))
	}).WithTimeout(time.Minute).Should(Succeed())
	expectGrant(ctx, g, one.admin, accessv1alpha1.GrantActive)
	expectGrant(ctx, g, two.admin, accessv1alpha1.GrantActive)

	// A Tor sign-in quarantines Alex on cluster 1 (the sample policy).
	tor := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: contractors, Name: "alex-tor"},
		Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			Type: accessv1alpha1.FindingAnonymizer, AnonymizerKind: accessv1alpha1.AnonymizerTor,
			Severity: accessv1alpha1.SeverityHigh, Source: "test", Evidence: accessv1alpha1.Evidence{IP: "185.220.101.4"}}}
	g.Expect(one.admin.Create(ctx, tor)).To(Succeed())
	expectGrant(ctx, g, one.admin, accessv1alpha1.GrantQuarantined)

	// Cluster 2 records the session-revoked and, on the account-disabled,
	// quarantines its own grant of Alex's.
	g.Eventually(func(g Gomega) {
		types := signalFindings(ctx, g, two.admin)
		g.Expect(types).To(HaveKey(accessv1alpha1.FindingSessionRevoked))
		g.Expect(types).To(HaveKey(accessv1alpha1.FindingAccountDisabled))
		g.Expect(types[accessv1alpha1.FindingSessionRevoked].Spec.Source).To(Equal("ssf:cluster-one"))
	}).WithTimeout(time.Minute).Should(Succeed())
	expectGrant(ctx, g, two.admin, accessv1alpha1.GrantQuarantined)

	// The quarantine lifts on cluster 1: account-enabled lifts cluster 2's.
	g.Expect(one.admin.Delete(ctx, tor)).To(Succeed())
	expectGrant(ctx, g, one.admin, accessv1alpha1.GrantActive)
	g.Eventually(func(g Gomega) {
		g.Expect(signalFindings(ctx, g, two.admin)).NotTo(HaveKey(accessv1alpha1.FindingAccountDisabled))
	}).WithTimeout(time.Minute).Should(Succeed())
	expectGrant(ctx, g, two.admin, accessv1alpha1.GrantActive)

	// Each SET arrived once: three events announced, three accepted.
	g.Eventually(func(g Gomega) {
		s := &accessv1alpha1.SignalStream{}
		g.Expect(two.admin.Get(ctx, client.ObjectKeyFromObject(stream), s)).To(Succeed())
		g.Expect(s.Status.Counts.Refused).To(BeZero())
		g.Expect(s.Status.Counts.Accepted).To(BeNumerically(">=", 3)) // and the verification SET
	}).WithTimeout(30 * time.Second).Should(Succeed())
	c := &accessv1alpha1.Contractor{}
	g.Expect(one.admin.Get(ctx, client.ObjectKey{Namespace: contractors, Name: contractor}, c)).To(Succeed())
	g.Expect(c.Status.Announced).NotTo(BeNil())
	g.Expect(c.Status.Announced.State).To(Equal(accessv1alpha1.AnnouncedEnabled))
	g.Expect(c.Status.Announced.Transitions).To(Equal(int64(2)))
}

// startCluster starts an API server with the CRDs, the samples' namespaces,
// system, policy, contractor and grant, and what prepare creates.
func startCluster(ctx context.Context, t *testing.T, name string, prepare func(client.Client)) (*cluster, *envtest.Environment) {
	t.Helper()
	g := NewWithT(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export the line `make envtest` prints")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true, BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred(), "starting cluster %s", name)
	t.Cleanup(func() { _ = env.Stop() })
	scheme, err := manager.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: system}})).To(Succeed())
	objs, err := manifests.DecodeFS(samples.Files, "[0-4]*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(manifests.Apply(ctx, admin, "test", onlyGrantOf(objs))).To(Succeed())
	prepare(admin)
	return &cluster{admin: admin, cfg: cfg}, env
}

// runManager runs a manager in this process, configured by configure.
func runManager(ctx context.Context, t *testing.T, c *cluster, configure func(*manager.Options)) {
	t.Helper()
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.CredentialsNamespace = system
	configure(&opts)
	mgrCtx, stop := context.WithCancel(ctx)
	mgr, err := manager.New(mgrCtx, rest.CopyConfig(c.cfg), opts)
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the manager failed: %v", err)
		}
	})
}

// runManagerProcess runs `portcullis manager`, built for the test, as a
// process of its own against env's API server, with the extra flags.
func runManagerProcess(t *testing.T, env *envtest.Environment, dir string, extra ...string) *syncbuf.Buffer {
	t.Helper()
	binary := filepath.Join(dir, "portcullis")
	build := exec.Command("go", "build", "-o", binary, "./cmd/portcullis")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building portcullis: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	write(t, kubeconfig, env.KubeConfig)
	args := append([]string{"manager", "--kubeconfig", kubeconfig, "--credentials-namespace", system,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--graceful-shutdown-timeout", "5s"}, extra...)
	logs := &syncbuf.Buffer{}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the manager process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return logs
}

// installShippedRBAC creates the service account and the RBAC objects of
// config/default, and the transmitter's Role of config/ssf, as kustomize
// renders them.
func installShippedRBAC(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	for _, dir := range []string{"config/default", "config/ssf"} {
		out, err := exec.Command("kubectl", "kustomize", filepath.Join("..", "..", dir)).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		objs, err := manifests.Decode(dir, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			switch o.GetKind() {
			case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
				if err := c.Create(ctx, o); err != nil {
					t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		}
	}
}

// onlyGrantOf keeps the samples' objects but the grants other than Alex's
// payments grant and the exceptions, so that each cluster holds one grant.
func onlyGrantOf(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var keep []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "AccessGrant" && o.GetName() != grant {
			continue
		}
		keep = append(keep, o)
	}
	return keep
}

func expectGrant(ctx context.Context, g Gomega, c client.Client, want accessv1alpha1.GrantState) {
	g.Eventually(func(g Gomega) {
		gr := &accessv1alpha1.AccessGrant{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: contractors, Name: grant}, gr)).To(Succeed())
		g.Expect(gr.Status.Enforcement).NotTo(BeNil())
		g.Expect(gr.Status.Enforcement.State).To(Equal(want), "grant status: %+v", gr.Status)
	}).WithTimeout(time.Minute).Should(Succeed())
}

// signalFindings returns Alex's Findings from Shared Signals by type.
func signalFindings(ctx context.Context, g Gomega, c client.Client) map[accessv1alpha1.FindingType]accessv1alpha1.Finding {
	list := &accessv1alpha1.FindingList{}
	g.Expect(c.List(ctx, list, client.InNamespace(contractors))).To(Succeed())
	byType := map[accessv1alpha1.FindingType]accessv1alpha1.Finding{}
	for _, f := range list.Items {
		if strings.HasPrefix(f.Spec.Source, "ssf:") && f.Spec.ContractorRef.Name == contractor {
			byType[f.Spec.Type] = f
		}
	}
	return byType
}

func readyStatus(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == accessv1alpha1.ConditionReady {
			return string(c.Status)
		}
	}
	return ""
}

func secret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: system, Name: name}, Data: data}
}

// signingKey is a PEM EC P-256 private key for the transmitter.
func signingKey(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
