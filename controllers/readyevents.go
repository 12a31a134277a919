package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// announceReady records an Event when an object's Ready condition changed
// status or reason between before and after, as written: a Warning when it
// became False (CompileError, SecretNotFound, Unreachable, Expired, ...), a
// Normal one when it became True again. An object that is Ready from its
// first status on records nothing: thousands of ingested Findings becoming
// Active are not news. Reconciles that change nothing record nothing, so
// `kubectl get events` tells each change once, on every kind. A nil
// recorder records nothing.
func announceReady(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	if rec == nil {
		return
	}
	now := meta.FindStatusCondition(after, accessv1alpha1.ConditionReady)
	if now == nil {
		return
	}
	was := meta.FindStatusCondition(before, accessv1alpha1.ConditionReady)
	if was == nil && now.Status == metav1.ConditionTrue || was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	kind := "Normal"
	if now.Status != metav1.ConditionTrue {
		kind = "Warning"
	}
	rec.Eventf(obj, nil, kind, now.Reason, "Reconcile", "%s", now.Message)
}
