// Package shards runs two managers, each a shard of the namespaces, as the
// manager's service account with the shipped RBAC on one API server.
package shards

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/rbac"
	"github.com/portcullis-dev/portcullis/test/syncbuf"
)

// namespace and serviceAccount are the manager's.
const namespace = rbac.Namespace

var serviceAccount = rbac.ServiceAccount

// shardLabel picks the namespaces, and the cluster-scoped objects, of a
// shard.
const shardLabel = "portcullis.dev/shard"

// TestShardsShareOneAPIServer runs two managers as the same service account
// on one API server, each owning the namespaces labelled with its shard, as
// docs/sharding.md tells: shard a owns every cluster-scoped object but
// those labelled for shard b. Shard a runs in the test, so that the test
// can look into its cache; shard b runs as `portcullis manager`, a process
// of its own, so that the test sees it exit and starts it again.
func TestShardsShareOneAPIServer(t *testing.T) {
	g := NewWithT(t)
	env, cfg, admin := rbac.StartAPIServer(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for ns, shard := range map[string]string{namespace: "", "team-a": "a", "team-b": "b", "team-c": ""} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if shard != "" {
			obj.Labels = map[string]string{shardLabel: shard}
		}
		g.Expect(admin.Create(ctx, obj)).To(Succeed())
	}
	rbac.InstallRBAC(ctx, g, admin)

	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes,
			Kubernetes: &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"edit"},
				AllowedNamespaces: []string{"team-a", "team-b", "team-c"}}}}
	g.Expect(admin.Create(ctx, system)).To(Succeed())
	// A policy of shard b's that every shard must apply.
	g.Expect(admin.Create(ctx, &accessv1alpha1.AccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "flagged", Labels: map[string]string{shardLabel: "b"}},
		Spec: accessv1alpha1.AccessPolicySpec{Rego: "package flagged\n\nquarantine contains {\"msg\": \"flagged\"} if " +
			"endswith(input.contractor.spec.email, \"@flagged.example\")\n"}})).To(Succeed())
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		for _, who := range []string{"honest", "flagged"} {
			g.Expect(admin.Create(ctx, &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: who},
				Spec: accessv1alpha1.ContractorSpec{DisplayName: who, Email: who + "@" + who + ".example",
					ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
					Accounts:        []accessv1alpha1.Account{{System: "cluster", ID: who + "-" + ns}}}})).To(Succeed())
			g.Expect(admin.Create(ctx, &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: who},
				Spec: accessv1alpha1.AccessGrantSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: who},
					SystemRef:     accessv1alpha1.SystemReference{Name: "cluster"},
					Entitlement:   accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: "edit", Namespace: ns},
					Justification: "test", Approver: "test"}})).To(Succeed())
		}
	}

	shardA := startShard(ctx, t, cfg, "a", shardLabel+"=a", shardLabel+"!=b")
	shardB := startShardProcess(t, env, "b", shardLabel+"=b", shardLabel+"=b")
	// The restarted shard b outlives the subtest that starts it.
	outer := t
	var restartedB *shardProcess

	t.Run("each shard enforces its namespaces with every policy", func(t *testing.T) {
		g := NewWithT(t)
		for _, ns := range []string{"team-a", "team-b"} {
			expectState(ctx, g, admin, ns, "honest", accessv1alpha1.GrantActive)
			expectState(ctx, g, admin, ns, "flagged", accessv1alpha1.GrantQuarantined)
		}
		// No shard holds team-c yet.
		grant := &accessv1alpha1.AccessGrant{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "honest"}, grant)).To(Succeed())
		g.Expect(grant.Status.Enforcement).To(BeNil())
		g.Expect(grant.Finalizers).To(BeEmpty())
	})

	t.Run("caches only its own namespaces", func(t *testing.T) {
		g := NewWithT(t)
		grants := &accessv1alpha1.AccessGrantList{}
		g.Expect(shardA.mgr.GetCache().List(ctx, grants)).To(Succeed())
		g.Expect(grants.Items).To(HaveLen(2))
		for _, grant := range grants.Items {
			g.Expect(grant.Namespace).To(Equal("team-a"), "shard a caches %s/%s", grant.Namespace, grant.Name)
		}
		// Another shard's object reads as missing, never as an error to
		// retry.
		err := shardA.mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: "team-b", Name: "honest"}, &accessv1alpha1.AccessGrant{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
	})

	t.Run("writes the status only of the cluster objects it owns", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(func(g Gomega) {
			s := &accessv1alpha1.ConnectedSystem{}
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "cluster"}, s)).To(Succeed())
			g.Expect(s.Finalizers).To(ConsistOf(controllers.FinalizerGrants+"-a", controllers.FinalizerGrants+"-b"))
			g.Expect(statusWriters(s.ManagedFields)).To(ConsistOf("shard-a"))
			p := &accessv1alpha1.AccessPolicy{}
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: "flagged"}, p)).To(Succeed())
			g.Expect(statusWriters(p.ManagedFields)).To(And(Not(BeEmpty()), Not(ContainElement("shard-a"))))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		for _, shard := range []string{"a", "b"} {
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "portcullis.access.portcullis.dev-" + shard},
				&coordinationv1.Lease{})).To(Succeed(), "the lease of shard %s", shard)
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "portcullis-guard-" + shard},
				&corev1.ConfigMap{})).To(Succeed(), "the guard window of shard %s", shard)
		}
	})

	t.Run("a shard given a namespace exits, and its restart takes it on", func(t *testing.T) {
		g := NewWithT(t)
		ns := &corev1.Namespace{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Name: "team-c"}, ns)).To(Succeed())
		ns.Labels = map[string]string{shardLabel: "b"}
		g.Expect(admin.Update(ctx, ns)).To(Succeed())
		g.Eventually(shardB.exited).WithTimeout(30 * time.Second).Should(BeClosed())
		g.Expect(shardB.logs.String()).To(ContainSubstring("namespace team-c now matches"))
		g.Expect(shardB.logs.String()).To(ContainSubstring(manager.ErrShardChanged.Error()))
		g.Expect(shardB.cmd.ProcessState.ExitCode()).NotTo(BeZero())
		// Shard a did not own team-c and goes on.
		g.Consistently(shardA.done).WithTimeout(2 * time.Second).ShouldNot(Receive())

		restartedB = startShardProcess(outer, env, "b", shardLabel+"=b", shardLabel+"=b")
		expectState(ctx, g, admin, "team-c", "honest", accessv1alpha1.GrantActive)
		expectState(ctx, g, admin, "team-c", "flagged", accessv1alpha1.GrantQuarantined)
		bindings := &rbacv1.RoleBindingList{}
		g.Expect(admin.List(ctx, bindings, client.InNamespace("team-c"))).To(Succeed())
		g.Expect(bindings.Items).NotTo(BeEmpty())
	})
	t.Run("a system goes only once no grant of any shard holds access through it", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(restartedB).NotTo(BeNil(), "shard b did not restart")
		deleteGrants := func(ns string) {
			for _, who := range []string{"honest", "flagged"} {
				g.Expect(admin.Delete(ctx, &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: who}})).To(Succeed())
			}
		}
		gone := func(obj client.Object) func() bool {
			return func() bool { return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKeyFromObject(obj), obj)) }
		}
		finalizers := func() []string {
			s := &accessv1alpha1.ConnectedSystem{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "cluster"}, s); err != nil {
				return []string{err.Error()}
			}
			return s.Finalizers
		}
		// Shard b stops and its finalizer goes, as if it had started only
		// after the system was deleted, when it could add none.
		restartedB.stop()
		g.Expect(admin.Delete(ctx, system)).To(Succeed())
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s := &accessv1alpha1.ConnectedSystem{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "cluster"}, s); err != nil {
				return err
			}
			s.Finalizers = []string{controllers.FinalizerGrants + "-a"}
			return admin.Update(ctx, s)
		})).To(Succeed())

		// Shard a's grants go; shard b's still hold access, so shard a,
		// the last to keep the system, keeps it.
		deleteGrants("team-a")
		g.Eventually(gone(&accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "honest"}})).
			WithTimeout(30 * time.Second).Should(BeTrue())
		g.Consistently(finalizers).WithTimeout(3 * time.Second).Should(ConsistOf(controllers.FinalizerGrants + "-a"))

		// Shard b comes back and removes its grants' entitlements; then the
		// system goes (shard a looks again every 30 s).
		startShardProcess(outer, env, "b", shardLabel+"=b", shardLabel+"=b")
		deleteGrants("team-b")
		deleteGrants("team-c")
		g.Eventually(gone(&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}})).
			WithTimeout(90 * time.Second).Should(BeTrue())
		for _, ns := range []string{"team-a", "team-b", "team-c"} {
			bindings := &rbacv1.RoleBindingList{}
			g.Expect(admin.List(ctx, bindings, client.InNamespace(ns))).To(Succeed())
			g.Expect(bindings.Items).To(BeEmpty(), "access left behind in %s", ns)
		}
	})
}

// inProcessShard is a manager of one shard and the result of its Start.
type inProcessShard struct {
	mgr  ctrl.Manager
	done chan error
}

// startShard runs a shard's manager as the manager's service account,
// with its own user agent so that managedFields name the shard.
func startShard(ctx context.Context, t *testing.T, cfg *rest.Config, name, namespaces, cluster string) inProcessShard {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount,
		Groups: rbac.ServiceAccountGroups()}
	cfg.UserAgent = "shard-" + name
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.CredentialsNamespace = namespace
	opts.LeaderElection, opts.LeaderElectionNamespace = true, namespace
	opts.Shard = manager.ShardOptions{Name: name, NamespaceSelector: namespaces, ClusterSelector: cluster}
	ctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("creating the manager of shard %s: %v", name, err)
	}
	run := inProcessShard{mgr: mgr, done: make(chan error, 1)}
	stopped := make(chan struct{})
	go func() {
		err := mgr.Start(ctx)
		run.done <- err
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return run
}

// shardProcess is `portcullis manager` running one shard.
type shardProcess struct {
	cmd    *exec.Cmd
	logs   *syncbuf.Buffer
	exited chan struct{}
}

// startShardProcess runs a shard as `portcullis manager`, built for the
// test, with a kubeconfig that impersonates the manager's service account.
func startShardProcess(t *testing.T, env *envtest.Environment, name, namespaces, cluster string) *shardProcess {
	t.Helper()
	dir := t.TempDir()
	binary := filepath.Join(os.TempDir(), "portcullis-rbac-test")
	build := exec.Command("go", "build", "-o", binary, "./cmd/portcullis")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building portcullis: %v\n%s", err, out)
	}
	kubeconfig, err := clientcmd.Load(env.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range kubeconfig.AuthInfos {
		user.Impersonate = serviceAccount
		user.ImpersonateGroups = rbac.ServiceAccountGroups()
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		t.Fatal(err)
	}
	p := &shardProcess{logs: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "manager", "--kubeconfig", path, "--credentials-namespace", namespace,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--graceful-shutdown-timeout", "5s",
		"--leader-elect", "--leader-election-namespace", namespace,
		"--shard", name, "--shard-namespace-selector", namespaces, "--shard-cluster-selector", cluster)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting shard %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("shard %s:\n%s", name, p.logs.String())
		}
	})
	return p
}

// stop ends the process and waits for it.
func (p *shardProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}

func expectState(ctx context.Context, g Gomega, c client.Client, ns, name string, want accessv1alpha1.GrantState) {
	g.Eventually(func(g Gomega) {
		grant := &accessv1alpha1.AccessGrant{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, grant)).To(Succeed())
		g.Expect(grant.Status.Enforcement).NotTo(BeNil())
		g.Expect(grant.Status.Enforcement.State).To(Equal(want))
	}).WithTimeout(60*time.Second).Should(Succeed(), "grant %s/%s", ns, name)
}

// statusWriters are the field managers that wrote the status subresource.
func statusWriters(fields []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, f := range fields {
		if f.Subresource == "status" {
			out = append(out, f.Manager)
		}
	}
	return out
}
