package manager

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestShardOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    ShardOptions
		wantErr string
	}{
		{"not sharded", ShardOptions{}, ""},
		{"sharded", ShardOptions{Name: "eu", NamespaceSelector: "portcullis.dev/shard=eu", ClusterSelector: "portcullis.dev/shard=eu"}, ""},
		{"every cluster object", ShardOptions{Name: "eu", NamespaceSelector: "region in (eu, uk)"}, ""},
		{"selector without a shard", ShardOptions{NamespaceSelector: "a=b"}, "need --shard"},
		{"cluster selector without a shard", ShardOptions{ClusterSelector: "a=b"}, "need --shard"},
		{"no namespace selector", ShardOptions{Name: "eu"}, "needs --shard-namespace-selector"},
		{"upper case", ShardOptions{Name: "EU", NamespaceSelector: "a=b"}, "must be a DNS label"},
		{"too long", ShardOptions{Name: strings.Repeat("a", 41), NamespaceSelector: "a=b"}, "at most 40"},
		{"bad namespace selector", ShardOptions{Name: "eu", NamespaceSelector: "a=(b"}, "--shard-namespace-selector"},
		{"bad cluster selector", ShardOptions{Name: "eu", NamespaceSelector: "a=b", ClusterSelector: "!!"}, "--shard-cluster-selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.opts.parse()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (plan == nil) != (tc.opts.Name == "") {
					t.Fatalf("plan %v for %+v", plan, tc.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// A shard owns the cluster-scoped objects its selector matches, and names
// its finalizer, guard window and lease after itself.
func TestShardOwnership(t *testing.T) {
	plan, err := ShardOptions{Name: "eu", NamespaceSelector: "shard=eu", ClusterSelector: "shard!=us"}.parse()
	if err != nil {
		t.Fatal(err)
	}
	shard := plan.shard()
	labelled := func(l map[string]string) *accessv1alpha1.AccessPolicy {
		return &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Labels: l}}
	}
	if !shard.Owns(labelled(nil)) || !shard.Owns(labelled(map[string]string{"shard": "eu"})) || shard.Owns(labelled(map[string]string{"shard": "us"})) {
		t.Error("shard!=us owns the wrong objects")
	}
	if got := shard.SystemFinalizer(); got != "access.portcullis.dev/grants-eu" {
		t.Errorf("finalizer %q", got)
	}
	if got := plan.leaseID("portcullis.access.portcullis.dev"); got != "portcullis.access.portcullis.dev-eu" {
		t.Errorf("lease %q", got)
	}
	var none *shardPlan
	if none.shard() != nil || none.leaseID("x") != "x" || !none.shard().Owns(labelled(nil)) {
		t.Error("a manager that is not sharded must own everything under its own lease")
	}
	if newShardCache(nil) != nil {
		t.Error("a manager that is not sharded must use the default cache")
	}
}

// A shard's cache holds the Portcullis objects of its namespaces, and
// keeps the RoleBindings it manages and ConfigMaps' metadata cluster-wide.
func TestShardCacheOptions(t *testing.T) {
	opts := CacheOptions("team-a")
	if _, ok := opts.DefaultNamespaces["team-a"]; !ok || len(opts.DefaultNamespaces) != 1 {
		t.Errorf("default namespaces %v", opts.DefaultNamespaces)
	}
	wide := map[string]bool{}
	for obj, by := range opts.ByObject {
		kind := fmt.Sprintf("%T", obj)
		if _, twice := wide[kind]; twice {
			t.Errorf("two cache settings for %s: the cache would take either", kind)
		}
		_, all := by.Namespaces[cache.AllNamespaces]
		wide[kind] = all
	}
	if !wide["*v1.ConfigMap"] || !wide["*v1.RoleBinding"] {
		t.Errorf("ConfigMaps and managed RoleBindings must stay cluster-wide: %v", wide)
	}
	if unsharded := CacheOptions(); unsharded.DefaultNamespaces != nil {
		t.Errorf("a manager that is not sharded caches every namespace, not %v", unsharded.DefaultNamespaces)
	}
}
