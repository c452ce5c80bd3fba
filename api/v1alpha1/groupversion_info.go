// Package v1alpha1 contains the API types of the tenancy.tenant-operator.io group.
// +kubebuilder:object:generate=true
// +groupName=tenancy.tenant-operator.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "tenancy.tenant-operator.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group-version; it keeps the
	// API package free of controller-runtime so clients import it cheaply.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&TenantInstallation{}, &TenantInstallationList{},
		&TenantBlueprint{}, &TenantBlueprintList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
