package controllers

import (
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Shard is this manager's part of the work when several managers share one
// API server, each reconciling the namespaced objects of its own set of
// namespaces (the manager's cache holds only those). Cluster-scoped objects
// are read by every shard: each compiles every AccessPolicy and sees every
// ConnectedSystem. Only the shard whose Cluster selector matches one writes
// its status, polls it (SignInSource) or runs it (SignalStream). A nil
// Shard is a manager that is not sharded: it owns everything.
type Shard struct {
	// Name tells the shard's finalizers, guard window and lease apart
	// from the other shards'; "" when the manager is not sharded.
	Name string
	// Cluster selects the cluster-scoped objects this shard owns; nil
	// selects them all.
	Cluster labels.Selector
}

// Owns reports whether this manager owns a cluster-scoped object.
func (s *Shard) Owns(obj client.Object) bool {
	return s == nil || s.Cluster == nil || s.Cluster.Matches(labels.Set(obj.GetLabels()))
}

// sharded reports whether the manager is one shard of several.
func (s *Shard) sharded() bool { return s != nil && s.Name != "" }

// SystemFinalizer is the finalizer by which this manager keeps a
// ConnectedSystem while grants of its shard hold access through it: each
// shard has its own, so a system goes only once no shard's grants hold
// access through it.
func (s *Shard) SystemFinalizer() string {
	if s == nil || s.Name == "" {
		return FinalizerGrants
	}
	return FinalizerGrants + "-" + s.Name
}

// guardConfigMap is the name of the ConfigMap that keeps the shard's
// blast-radius window.
func (s *Shard) guardConfigMap() string {
	if s == nil || s.Name == "" {
		return guardConfigMap
	}
	return guardConfigMap + "-" + s.Name
}
