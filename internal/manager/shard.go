package manager

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/controllers"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// ErrShardChanged ends a sharded manager whose set of namespaces changed:
// its cache holds the namespaces it started with, so it exits for its
// restart to watch the new set.
var ErrShardChanged = errors.New("the namespaces of this shard changed: exiting so that the restarted manager watches the new set")

// maxShardName keeps the shard's finalizer, guard ConfigMap and lease
// names within Kubernetes' limits.
const maxShardName = 40

// ShardOptions split the work among several managers on one API server.
type ShardOptions struct {
	// Name names this manager's shard; "" runs one manager over every
	// namespace.
	Name string
	// NamespaceSelector selects the namespaces whose objects the shard
	// reconciles.
	NamespaceSelector string
	// ClusterSelector selects the cluster-scoped objects the shard owns.
	ClusterSelector string
}

// BindFlags registers the options as flags on fs.
func (o *ShardOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Name, "shard", o.Name,
		"Name of this manager's shard, when several managers share one API server, each reconciling the namespaces that --shard-namespace-selector picks (a DNS label of at most 40 characters). Empty runs one manager over every namespace.")
	fs.StringVar(&o.NamespaceSelector, "shard-namespace-selector", o.NamespaceSelector,
		"Label selector of the namespaces whose Contractors, AccessGrants, Findings and PolicyExceptions this shard reconciles and caches; required with --shard. The manager exits, to be restarted, when the set of matching namespaces changes.")
	fs.StringVar(&o.ClusterSelector, "shard-cluster-selector", o.ClusterSelector,
		"Label selector of the cluster-scoped objects this shard owns: it writes the status of those AccessPolicies and ConnectedSystems, polls those SignInSources and runs those SignalStreams. Every shard compiles every policy and keeps its own finalizer on every ConnectedSystem. Give the shards disjoint selectors that together select every object; empty selects all.")
}

// shardPlan is a parsed ShardOptions; nil when the manager is not sharded.
type shardPlan struct {
	controllers.Shard
	namespaces labels.Selector
}

// parse checks the options and returns nil when the manager is not sharded.
func (o ShardOptions) parse() (*shardPlan, error) {
	if o.Name == "" {
		if o.NamespaceSelector != "" || o.ClusterSelector != "" {
			return nil, errors.New("--shard-namespace-selector and --shard-cluster-selector need --shard, the name of this manager's shard")
		}
		return nil, nil
	}
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 || len(o.Name) > maxShardName {
		return nil, fmt.Errorf("--shard %q: must be a DNS label (lower-case letters, digits and '-') of at most %d characters", o.Name, maxShardName)
	}
	namespaces, err := labels.Parse(o.NamespaceSelector)
	if err != nil {
		return nil, fmt.Errorf("--shard-namespace-selector: %w", err)
	}
	if namespaces.Empty() {
		return nil, errors.New("--shard needs --shard-namespace-selector, the label selector of the shard's namespaces (for example portcullis.dev/shard=" + o.Name + ")")
	}
	cluster, err := labels.Parse(o.ClusterSelector)
	if err != nil {
		return nil, fmt.Errorf("--shard-cluster-selector: %w", err)
	}
	return &shardPlan{Shard: controllers.Shard{Name: o.Name, Cluster: cluster}, namespaces: namespaces}, nil
}

// planShard parses the shard options and lists the shard's namespaces;
// nil and none when the manager is not sharded.
func planShard(ctx context.Context, cfg *rest.Config, opts Options) (*shardPlan, []string, error) {
	plan, err := opts.Shard.parse()
	if err != nil || plan == nil {
		return nil, nil, err
	}
	if opts.SSF.Issuer != "" {
		return nil, nil, errors.New("--ssf-issuer: the Shared Signals transmitter announces every contractor, so it runs only on a manager that is not sharded; drop --shard or the transmitter")
	}
	namespaces, err := plan.listNamespaces(ctx, cfg)
	return plan, namespaces, err
}

// leaseID is the shard's leader-election Lease: id, '-' and the shard's
// name, so that each shard elects its own leader.
func (p *shardPlan) leaseID(id string) string {
	if p == nil {
		return id
	}
	return id + "-" + p.Name
}

// watch adds the runnable that ends the manager when the shard's set of
// namespaces changes.
func (p *shardPlan) watch(ctx context.Context, mgr ctrl.Manager, namespaces []string) error {
	if p == nil {
		return nil
	}
	ctrl.LoggerFrom(ctx).Info("Running as a shard", "shard", p.Name, "namespaceSelector", p.namespaces.String(),
		"namespaces", len(namespaces), "clusterSelector", p.Cluster.String())
	return mgr.Add(&namespaceWatch{cache: mgr.GetCache(), selector: p.namespaces, start: sets.New(namespaces...)})
}

// shard is the Shard the reconcilers use; nil when not sharded.
func (p *shardPlan) shard() *controllers.Shard {
	if p == nil {
		return nil
	}
	return &p.Shard
}

// listNamespaces returns the names of the namespaces that match the shard's
// selector, read from the API server before the manager starts.
func (p *shardPlan) listNamespaces(ctx context.Context, cfg *rest.Config) ([]string, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := c.List(ctx, list, client.MatchingLabelsSelector{Selector: p.namespaces}); err != nil {
		return nil, fmt.Errorf("listing the namespaces of shard %s: %w", p.Name, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no namespace matches --shard-namespace-selector %q: label the namespaces of shard %s first", p.namespaces, p.Name)
	}
	sort.Strings(names)
	return names, nil
}

// shardCache is the manager's cache of a shard. Its Portcullis objects
// are those of the shard's namespaces only; it answers a read of one
// elsewhere as the API server would a missing object, rather than with
// controller-runtime's "unknown namespace" error, so that a reconcile of
// another shard's object (a RoleBinding's grant, a sign-in's contractor)
// finds nothing to do instead of retrying forever.
type shardCache struct {
	cache.Cache
	scheme     *runtime.Scheme
	namespaces map[string]bool
}

// newShardCache wraps the cache of a shard of namespaces; nil when the
// manager is not sharded.
func newShardCache(namespaces []string) cache.NewCacheFunc {
	if len(namespaces) == 0 {
		return nil
	}
	return func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
		c, err := cache.New(cfg, opts)
		if err != nil {
			return nil, err
		}
		in := make(map[string]bool, len(namespaces))
		for _, ns := range namespaces {
			in[ns] = true
		}
		return &shardCache{Cache: c, scheme: opts.Scheme, namespaces: in}, nil
	}
}

// outside reports whether obj is a Portcullis object of a namespace outside
// the shard, and its group and kind.
func (c *shardCache) outside(obj runtime.Object, namespace string) (schema.GroupVersionKind, bool) {
	if namespace == "" || c.namespaces[namespace] {
		return schema.GroupVersionKind{}, false
	}
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	return gvk, err == nil && gvk.Group == accessv1alpha1.GroupVersion.Group
}

func (c *shardCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if gvk, out := c.outside(obj, key.Namespace); out {
		return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind)}, key.Name)
	}
	return c.Cache.Get(ctx, key, obj, opts...)
}

func (c *shardCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	if _, out := c.outside(list, lo.Namespace); out {
		return meta.SetList(list, nil)
	}
	return c.Cache.List(ctx, list, opts...)
}

// namespaceWatch ends the manager when the set of the shard's namespaces
// changes. Every replica runs it, leader or not.
type namespaceWatch struct {
	cache    cache.Cache
	selector labels.Selector
	start    sets.Set[string]
}

// NeedLeaderElection is false: a follower's cache must follow too.
func (w *namespaceWatch) NeedLeaderElection() bool { return false }

// Start watches the namespaces' metadata until ctx ends or the set of
// matching namespaces differs from the one the manager started with.
func (w *namespaceWatch) Start(ctx context.Context) error {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	informer, err := w.cache.GetInformer(ctx, ns)
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	changed := make(chan string, 1)
	check := func(obj any) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		// A deleted namespace needs no restart: nothing of it is left to
		// watch, and if it comes back with its labels it matches again.
		if matches, started := w.selector.Matches(labels.Set(m.GetLabels())), w.start.Has(m.GetName()); matches != started {
			verb := "now matches"
			if !matches {
				verb = "no longer matches"
			}
			select {
			case changed <- fmt.Sprintf("namespace %s %s %q", m.GetName(), verb, w.selector):
			default:
			}
		}
	}
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { check(obj) },
		UpdateFunc: func(_, obj any) { check(obj) },
	})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	defer func() { _ = informer.RemoveEventHandler(reg) }()
	select {
	case <-ctx.Done():
		return nil
	case why := <-changed:
		return fmt.Errorf("%w (%s)", ErrShardChanged, why)
	}
}
