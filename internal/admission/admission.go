// Package admission is the manager's validating webhook: it refuses, at
// `kubectl apply` time, what the controller could only report later. An
// AccessPolicy whose Rego does not compile is refused with policy:line:col
// of each problem, compiled exactly as the engine compiles it; a
// PolicyException must name an AccessPolicy that exists.
//
// The webhook sees only the spec of these two kinds on create and update:
// status writes, deletes and every other kind never reach it, so the
// manager can always start and report even while no replica serves it.
package admission

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
)

// The webhook's paths. The ValidatingWebhookConfiguration in config/webhook
// is generated from the markers below; its rules name the main resources
// only, never their status subresources.
const (
	AccessPolicyPath    = "/validate-access-portcullis-dev-v1alpha1-accesspolicy"
	PolicyExceptionPath = "/validate-access-portcullis-dev-v1alpha1-policyexception"
)

// +kubebuilder:webhook:path=/validate-access-portcullis-dev-v1alpha1-accesspolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=access.portcullis.dev,resources=accesspolicies,verbs=create;update,versions=v1alpha1,name=accesspolicies.access.portcullis.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent
// +kubebuilder:webhook:path=/validate-access-portcullis-dev-v1alpha1-policyexception,mutating=false,failurePolicy=fail,sideEffects=None,groups=access.portcullis.dev,resources=policyexceptions,verbs=create;update,versions=v1alpha1,name=policyexceptions.access.portcullis.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent

// CompileTimeout bounds the query preparation of one compilation in the
// webhook, well inside the API server's 10 s timeout for the call; OPA's
// parse and type check take no context.
const CompileTimeout = 5 * time.Second

// MaxConcurrentCompiles bounds the compilations running at once: a burst
// of applies waits for a slot rather than taking every core of the manager.
const MaxConcurrentCompiles = 4

// Checker compiles a policy as the engine would, without using it.
type Checker interface {
	Check(ctx context.Context, p policy.Policy) (string, error)
}

// Setup registers both validators with mgr's webhook server.
func Setup(mgr ctrl.Manager, checker Checker) error {
	reader := mgr.GetAPIReader()
	policies := &PolicyValidator{Checker: checker, Reader: reader, slots: make(chan struct{}, MaxConcurrentCompiles)}
	if err := ctrl.NewWebhookManagedBy(mgr, &accessv1alpha1.AccessPolicy{}).WithValidator(policies).Complete(); err != nil {
		return fmt.Errorf("registering the AccessPolicy webhook: %w", err)
	}
	exceptions := &ExceptionValidator{Reader: reader}
	if err := ctrl.NewWebhookManagedBy(mgr, &accessv1alpha1.PolicyException{}).WithValidator(exceptions).Complete(); err != nil {
		return fmt.Errorf("registering the PolicyException webhook: %w", err)
	}
	return nil
}

var (
	policyKind    = schema.GroupKind{Group: accessv1alpha1.GroupVersion.Group, Kind: "AccessPolicy"}
	exceptionKind = schema.GroupKind{Group: accessv1alpha1.GroupVersion.Group, Kind: "PolicyException"}
)

// PolicyValidator compiles an AccessPolicy's Rego on create, and on update
// when its source or selector changed.
type PolicyValidator struct {
	Checker Checker
	// Reader reads the ConfigMap of spec.regoFrom, live.
	Reader client.Reader
	slots  chan struct{}
}

// ValidateCreate compiles the new policy.
func (v *PolicyValidator) ValidateCreate(ctx context.Context, pol *accessv1alpha1.AccessPolicy) (admission.Warnings, error) {
	return v.validate(ctx, pol)
}

// ValidateUpdate compiles the policy when what is compiled changed: an
// update that touches only metadata (a label, a finalizer) of a policy
// stored before the webhook existed is never refused.
func (v *PolicyValidator) ValidateUpdate(ctx context.Context, old, pol *accessv1alpha1.AccessPolicy) (admission.Warnings, error) {
	if pol.DeletionTimestamp != nil || (old.Spec.Rego == pol.Spec.Rego &&
		reflect.DeepEqual(old.Spec.RegoFrom, pol.Spec.RegoFrom) &&
		reflect.DeepEqual(old.Spec.ContractorSelector, pol.Spec.ContractorSelector)) {
		return nil, nil
	}
	return v.validate(ctx, pol)
}

// ValidateDelete allows every delete: a broken policy can always go.
func (v *PolicyValidator) ValidateDelete(context.Context, *accessv1alpha1.AccessPolicy) (admission.Warnings, error) {
	return nil, nil
}

func (v *PolicyValidator) validate(ctx context.Context, pol *accessv1alpha1.AccessPolicy) (admission.Warnings, error) {
	source, path, warning, err := v.source(ctx, pol)
	if err != nil || warning != "" {
		return warnings(warning), err
	}
	p, err := policy.FromAPI(pol, source)
	if err != nil {
		return nil, invalid(policyKind, pol.Name, field.NewPath("spec", "contractorSelector"), err)
	}
	select {
	case v.slots <- struct{}{}:
		defer func() { <-v.slots }()
	case <-ctx.Done():
		return nil, apierrors.NewServiceUnavailable("too many policies are being compiled at once: apply again")
	}
	ctx, cancel := context.WithTimeout(ctx, CompileTimeout)
	defer cancel()
	if _, err := v.Checker.Check(ctx, p); err != nil {
		var compileErr *policy.CompileError
		if !errors.As(err, &compileErr) {
			return nil, apierrors.NewInternalError(fmt.Errorf("compiling the policy: %w", err))
		}
		return nil, invalid(policyKind, pol.Name, path, compileErr)
	}
	return nil, nil
}

// source returns the Rego to compile and the field it comes from. A
// regoFrom ConfigMap or key that does not exist yet is a warning, not a
// refusal: GitOps tools may apply the ConfigMap after the policy, and the
// policy reports ConfigMapNotFound until it exists.
func (v *PolicyValidator) source(ctx context.Context, pol *accessv1alpha1.AccessPolicy) (string, *field.Path, string, error) {
	ref := pol.Spec.RegoFrom
	if ref == nil {
		return pol.Spec.Rego, field.NewPath("spec", "rego"), "", nil
	}
	cm := &corev1.ConfigMap{}
	err := v.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm)
	if apierrors.IsNotFound(err) {
		return "", nil, fmt.Sprintf("spec.regoFrom: ConfigMap %s/%s does not exist yet, so the policy was not compiled: "+
			"it is not Ready until the ConfigMap exists and compiles", ref.Namespace, ref.Name), nil
	}
	if err != nil {
		return "", nil, "", apierrors.NewInternalError(fmt.Errorf("reading ConfigMap %s/%s of spec.regoFrom: %w", ref.Namespace, ref.Name, err))
	}
	src, ok := cm.Data[ref.Key]
	if !ok {
		return "", nil, fmt.Sprintf("spec.regoFrom: ConfigMap %s/%s has no key %q yet, so the policy was not compiled",
			ref.Namespace, ref.Name, ref.Key), nil
	}
	return src, field.NewPath("spec", "regoFrom"), "", nil
}

// ExceptionValidator refuses a PolicyException that names no AccessPolicy:
// it would exempt nothing, and the person who wrote it would believe it
// does.
type ExceptionValidator struct {
	// Reader reads AccessPolicies, live.
	Reader client.Reader
}

// ValidateCreate checks that spec.policy exists.
func (v *ExceptionValidator) ValidateCreate(ctx context.Context, exc *accessv1alpha1.PolicyException) (admission.Warnings, error) {
	return nil, v.validate(ctx, exc)
}

// ValidateUpdate checks spec.policy when it changed: an exception whose
// policy was deleted since can still be edited and deleted.
func (v *ExceptionValidator) ValidateUpdate(ctx context.Context, old, exc *accessv1alpha1.PolicyException) (admission.Warnings, error) {
	if exc.DeletionTimestamp != nil || old.Spec.Policy == exc.Spec.Policy {
		return nil, nil
	}
	return nil, v.validate(ctx, exc)
}

// ValidateDelete allows every delete.
func (v *ExceptionValidator) ValidateDelete(context.Context, *accessv1alpha1.PolicyException) (admission.Warnings, error) {
	return nil, nil
}

func (v *ExceptionValidator) validate(ctx context.Context, exc *accessv1alpha1.PolicyException) error {
	err := v.Reader.Get(ctx, types.NamespacedName{Name: exc.Spec.Policy}, &accessv1alpha1.AccessPolicy{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return apierrors.NewInternalError(fmt.Errorf("reading AccessPolicy %q: %w", exc.Spec.Policy, err))
	}
	// Whoever may write an exception in a namespace need not be allowed to
	// list the cluster's policies: the error names none of them.
	return invalid(exceptionKind, exc.Name, field.NewPath("spec", "policy"), fmt.Errorf(
		"no AccessPolicy %q exists, so the exception would exempt nothing: name an existing AccessPolicy (kubectl get accesspolicies), or apply the policy first", exc.Spec.Policy))
}

// invalid is a 422 that kubectl prints as `The Kind "name" is invalid:
// path: Invalid value: message`, without echoing the value (a whole Rego
// module) back.
func invalid(kind schema.GroupKind, name string, path *field.Path, err error) error {
	return apierrors.NewInvalid(kind, name, field.ErrorList{field.Invalid(path, field.OmitValueType{}, err.Error())})
}

func warnings(w string) admission.Warnings {
	if w == "" {
		return nil
	}
	return admission.Warnings{w}
}
