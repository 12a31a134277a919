package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The manager keeps the last good source of every AccessPolicy in its own
// namespace, so that a restart never loses it.
// +kubebuilder:rbac:groups="",namespace=system,resources=configmaps,verbs=get;create;update;delete

// Keys and labels of a last-good ConfigMap.
const (
	lastGoodKey        = "policy.rego"
	lastGoodRevision   = "access.portcullis.dev/revision"
	lastGoodPolicy     = "access.portcullis.dev/policy"
	labelManagedBy     = "app.kubernetes.io/managed-by"
	labelManagedByName = "portcullis"
)

// LastGoodStore keeps the source of each AccessPolicy's last revision that
// compiled, in a ConfigMap of the manager's namespace: a policy whose
// source breaks while the manager restarts is still enforced as it was,
// never dropped. The ConfigMaps are not owned by the policies, so that a
// restore that gives a policy a new UID finds its last good source.
type LastGoodStore struct {
	// Client writes the ConfigMaps; Reader reads them from the API server,
	// so the manager caches no ConfigMap bodies.
	Client    client.Client
	Reader    client.Reader
	Namespace string
}

// configMapName is the deterministic name of a policy's ConfigMap.
func (s *LastGoodStore) configMapName(policy string) string {
	name := "portcullis-policy-" + policy
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(policy))
	return "portcullis-policy-" + hex.EncodeToString(sum[:])[:32]
}

func (s *LastGoodStore) get(ctx context.Context, policy string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.configMapName(policy)}, cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the last good source of policy %s: %w", policy, err)
	}
	if cm.Annotations[lastGoodPolicy] != policy {
		return nil, nil // another policy's, under a hashed name
	}
	return cm, nil
}

// Load returns the last good source of the policy, if one was saved.
func (s *LastGoodStore) Load(ctx context.Context, policy string) (source string, found bool, err error) {
	cm, err := s.get(ctx, policy)
	if cm == nil || err != nil {
		return "", false, err
	}
	source, found = cm.Data[lastGoodKey]
	return source, found, nil
}

// Save records source as the policy's last good revision, unless it is
// already the one saved.
func (s *LastGoodStore) Save(ctx context.Context, policy, source, revision string) error {
	cm, err := s.get(ctx, policy)
	if err != nil {
		return err
	}
	if cm != nil && cm.Annotations[lastGoodRevision] == revision && cm.Data[lastGoodKey] == source {
		return nil
	}
	fresh := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.configMapName(policy),
			Labels:      map[string]string{labelManagedBy: labelManagedByName},
			Annotations: map[string]string{lastGoodPolicy: policy, lastGoodRevision: revision}},
		Data: map[string]string{lastGoodKey: source},
	}
	if cm == nil {
		err = s.Client.Create(ctx, fresh)
	} else {
		fresh.ResourceVersion = cm.ResourceVersion
		err = s.Client.Update(ctx, fresh)
	}
	if err != nil {
		return fmt.Errorf("saving the last good source of policy %s: %w", policy, err)
	}
	return nil
}

// Delete forgets the policy's last good source, once the policy is gone.
func (s *LastGoodStore) Delete(ctx context.Context, policy string) error {
	cm, err := s.get(ctx, policy)
	if cm == nil || err != nil {
		return err
	}
	if err := s.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the last good source of policy %s: %w", policy, err)
	}
	return nil
}
