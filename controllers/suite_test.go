package controllers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/guard"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// credentialsNS is the only namespace the suite's manager reads Secrets in.
const credentialsNS = "portcullis-system"

// The blast-radius guard of the suite is generous, so that no spec meets it
// by accident; the guard's own spec lowers the budget while it runs.
const guardBudget = 3

func generousGuard() guard.Options {
	return guard.Options{MinBudget: 1000, Window: time.Minute}
}

var (
	blastGuard *guard.Guard
	engine     *policy.OPAEngine
	registry   *prometheus.Registry
	testEnv    *envtest.Environment
	cfg        *rest.Config
	k8sClient  client.Client
	scheme     *runtime.Scheme
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually waits for the controllers, never for ever: with a spec
	// context and no explicit timeout, Gomega would otherwise wait until the
	// context ends.
	SetDefaultEventuallyTimeout(15 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	EnforceDefaultTimeoutsWhenUsingContexts()
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, said)), zap.UseDevMode(true)))
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: controlPlaneDir(),
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(testEnv.Stop)

	scheme, err = manager.NewScheme()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgrCtx, cancel := context.WithCancel(context.Background())
	watchOutputs(mgrCtx, cfg)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   manager.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: credentialsNS}})).To(Succeed())
	installAdmission(ctx, k8sClient)
	opts := manager.DefaultReconcilerOptions()
	opts.CredentialsNamespace = credentialsNS
	opts.SystemRecheckNotReady = 500 * time.Millisecond
	opts.GrantWorkers = 8
	opts.Connectors = manager.DefaultConnectors(mgr, opts.Clock)
	opts.Recorder = mgr.GetEventRecorder("portcullis")
	blastGuard = guard.New(opts.Clock, generousGuard())
	opts.Guard = blastGuard
	// The default library's reference data, so the library's own policies
	// work as they do in a real manager.
	data, err := policy.DefaultData()
	Expect(err).NotTo(HaveOccurred())
	engine, err = policy.NewEngine(policy.Options{Data: data})
	Expect(err).NotTo(HaveOccurred())
	opts.Engine = engine
	opts.MaxExceptionLifetime = engine.MaxExceptionLifetime()
	registry = prometheus.NewRegistry()
	opts.Metrics, err = metrics.New(registry)
	Expect(err).NotTo(HaveOccurred())
	// The sign-in pipeline of the SignInSources, enriched as the sign-in
	// endpoint's specs are; sources poll every sourceInterval.
	pipeline, err := manager.NewPipeline(mgr, ingestOptions(credentialsNS), opts.Clock)
	Expect(err).NotTo(HaveOccurred())
	opts.Ingester, opts.SourceInterval = pipeline.Ingester, sourceInterval
	// SignalStreams hand their SETs to a recording sink; pushed SETs reach
	// the receivers through an HTTPS server, as the manager mounts them.
	signalSink = &recordingSink{}
	receivers := controllers.NewSignalReceivers()
	mux := http.NewServeMux()
	mux.Handle(controllers.SignalReceiversPath, receivers)
	signalReceiver = httptest.NewTLSServer(mux)
	DeferCleanup(signalReceiver.Close)
	opts.SignalSink, opts.SignalReceivers, opts.SignalReceiverURL = signalSink, receivers, signalReceiver.URL
	opts.SignalInterval = signalInterval
	Expect(manager.SetupReconcilers(mgrCtx, mgr, opts)).To(Succeed())

	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		<-done
	})
}, NodeTimeout(2*time.Minute))

// Nothing the controllers said during the suite, in logs, Events or
// statuses, holds a secret that a spec used.
var _ = AfterSuite(func() {
	Expect(said.secrets).NotTo(BeEmpty())
	leaked := said.leaked()
	fmt.Fprintf(GinkgoWriter, "security: looked for %d secret values in %d bytes of logs, Events and statuses: %d found\n",
		len(said.secrets), said.size(), len(leaked))
	Expect(leaked).To(BeEmpty(), "secrets found in the controllers' logs, Events or statuses")
})

// controlPlaneDir is $KUBEBUILDER_ASSETS, or else the directory that
// `make controlplane` builds into.
func controlPlaneDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	dir := devenv.ControlPlaneDir("..")
	_, err := os.Stat(filepath.Join(dir, "kube-apiserver"))
	Expect(err).NotTo(HaveOccurred(),
		"no kube-apiserver in %s and KUBEBUILDER_ASSETS is not set: run `make controlplane` once, or the suites with `make test`", dir)
	return dir
}

// newNamespace creates a namespace for one spec and deletes it afterwards.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed())
	})
	return ns.Name
}

// fromYAML parses one object from YAML, in namespace when it is not empty.
func fromYAML(namespace, doc string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

// readyCondition returns the Ready condition of obj's status, read fresh
// from the API server.
func readyCondition(ctx context.Context, g Gomega, obj client.Object) *metav1.Condition {
	return conditionOf(ctx, g, obj, "Ready")
}

// conditionOf returns the condition of type typ of obj's status, read fresh
// from the API server.
func conditionOf(ctx context.Context, g Gomega, obj client.Object, typ string) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	raw, _, _ := unstructured.NestedSlice(u, "status", "conditions")
	for _, c := range raw {
		m := c.(map[string]any)
		if m["type"] == typ {
			cond := &metav1.Condition{}
			g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(m, cond)).To(Succeed())
			return cond
		}
	}
	return nil
}

// expectReady waits until obj's Ready condition has the given status and reason.
func expectReady(ctx context.Context, obj client.Object, status metav1.ConditionStatus, reason string) *metav1.Condition {
	return expectCondition(ctx, obj, "Ready", status, reason)
}

// expectCondition waits until obj's condition of type typ has the given
// status and reason, for obj's current generation.
func expectCondition(ctx context.Context, obj client.Object, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	var cond *metav1.Condition
	Eventually(func(g Gomega) {
		cond = conditionOf(ctx, g, obj, typ)
		g.Expect(cond).NotTo(BeNil(), "no %s condition yet", typ)
		g.Expect(cond.Status).To(Equal(status), cond.Message)
		g.Expect(cond.Reason).To(Equal(reason), cond.Message)
		g.Expect(cond.ObservedGeneration).To(Equal(obj.GetGeneration()))
	}).WithContext(ctx).Should(Succeed())
	return cond
}

// mutate changes obj with a merge patch from its current state, so a
// controller writing the object's status meanwhile cannot make it conflict.
func mutate[T client.Object](ctx context.Context, obj T, change func(T)) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	change(obj)
	Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
}
