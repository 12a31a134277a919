package controllers

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fetch reads the object of a request into obj. It reports false, with no
// error, when the object is gone or being deleted: nothing to reconcile.
func fetch(ctx context.Context, c client.Client, req ctrl.Request, obj client.Object) (bool, error) {
	if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return obj.GetDeletionTimestamp().IsZero(), nil
}

// patchStatus writes obj's status with a merge patch against before, and
// only when the status changed. It is the one place where reconcilers write
// status. The type parameter makes before and obj the same kind at compile
// time; any kind with a Status field works, so a new kind needs no change
// here.
//
// The patch holds only the fields that changed since before, and no
// resourceVersion, so the API server applies it without a conflict check.
func patchStatus[T client.Object](ctx context.Context, c client.Client, before, obj T) error {
	old, err := statusOf(before)
	if err != nil {
		return err
	}
	cur, err := statusOf(obj)
	if err != nil {
		return err
	}
	// Semantic equality, so that an unchanged status costs no API call;
	// nil and empty lists compare equal.
	if equality.Semantic.DeepEqual(old, cur) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patching status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// patchStatusLocked writes obj's status like patchStatus, with an
// optimistic lock, so that a writer that read an older object (a manager
// that lost its leadership) cannot overwrite a newer status. It reports
// whether it wrote.
func patchStatusLocked[T client.Object](ctx context.Context, c client.Client, before, obj T) (bool, error) {
	old, err := statusOf(before)
	if err != nil {
		return false, err
	}
	cur, err := statusOf(obj)
	if err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(old, cur) {
		return false, nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("writing the status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// statusOf returns the value of obj's Status field, the part of a kind that
// its status subresource owns. Every kind of this API, like Kubernetes' own,
// keeps it in a field of that name. An object without one is a programming
// error that is returned, not a panic that would take the manager down.
func statusOf(obj client.Object) (any, error) {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("writing status: %T is not a pointer to a struct", obj)
	}
	field, ok := v.Type().FieldByName("Status")
	if !ok || !field.IsExported() {
		return nil, fmt.Errorf("writing status: %T has no Status field", obj)
	}
	status, err := v.FieldByIndexErr(field.Index)
	if err != nil {
		return nil, fmt.Errorf("writing status of %T: %w", obj, err)
	}
	return status.Interface(), nil
}
