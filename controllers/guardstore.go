package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/internal/guard"
)

// guardWindowKey holds the window, as JSON, in the guard's ConfigMap.
const guardWindowKey = "window.json"

// GuardStore keeps the blast-radius guard's window in the ConfigMap
// portcullis-guard of the manager's namespace, so that a restart or a new
// leader does not start with a fresh budget.
type GuardStore struct {
	// Client writes the ConfigMap; Reader reads it from the API server.
	Client    client.Client
	Reader    client.Reader
	Namespace string
	// Shard, when set, names the ConfigMap after the shard, so that each
	// shard keeps its own window.
	Shard *Shard
}

var _ guard.Store = (*GuardStore)(nil)

// guardConfigMap is the name of the ConfigMap of a manager that is not
// sharded.
const guardConfigMap = "portcullis-guard"

// Load returns the stored window, empty when none was stored.
func (s *GuardStore) Load(ctx context.Context) ([]guard.Admission, error) {
	cm := &corev1.ConfigMap{}
	err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Shard.guardConfigMap()}, cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var window []guard.Admission
	if raw := cm.Data[guardWindowKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &window); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s: %w", s.Namespace, s.Shard.guardConfigMap(), err)
		}
	}
	return window, nil
}

// Save replaces the stored window.
func (s *GuardStore) Save(ctx context.Context, window []guard.Admission) error {
	raw, err := json.Marshal(window)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{}
	err = s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Shard.guardConfigMap()}, cm)
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Shard.guardConfigMap(),
			Labels: map[string]string{labelManagedBy: labelManagedByName}},
			Data: map[string]string{guardWindowKey: string(raw)}}
		return s.Client.Create(ctx, cm)
	}
	if err != nil {
		return err
	}
	cm.Data = map[string]string{guardWindowKey: string(raw)}
	return s.Client.Update(ctx, cm)
}
