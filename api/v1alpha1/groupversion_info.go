// Package v1alpha1 contains the API types of the access.portcullis.dev group:
// contractor identities, their access grants, the Rego policies that decide
// them, the connected systems that enforce them, the findings that feed the
// policies, time-boxed policy exceptions, and the identity providers'
// sign-in logs read as evidence.
//
// +kubebuilder:object:generate=true
// +groupName=access.portcullis.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of every kind in this package.
var GroupVersion = schema.GroupVersion{Group: "access.portcullis.dev", Version: "v1alpha1"}

// AddToScheme adds every kind of this package to a runtime.Scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Contractor{}, &ContractorList{},
		&AccessGrant{}, &AccessGrantList{},
		&AccessPolicy{}, &AccessPolicyList{},
		&ConnectedSystem{}, &ConnectedSystemList{},
		&Finding{}, &FindingList{},
		&PolicyException{}, &PolicyExceptionList{},
		&SignInSource{}, &SignInSourceList{},
		&SignalStream{}, &SignalStreamList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
