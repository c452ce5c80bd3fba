package blueprint

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// rootKinds are the cluster-scoped kinds among client-go's built-in types
// (plus CustomResourceDefinition and our TenantBlueprint). Every one of them
// is cluster-scoped in every group it appears in.
var rootKinds = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"ClusterRole": true, "ClusterRoleBinding": true,
	"StorageClass": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true, "VolumeAttributesClass": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true, "IPAddress": true, "ServiceCIDR": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "ClusterTrustBundle": true,
	"FlowSchema": true, "PriorityLevelConfiguration": true,
	"TokenReview": true, "SelfSubjectReview": true, "SubjectAccessReview": true,
	"SelfSubjectAccessReview": true, "SelfSubjectRulesReview": true,
	"DeviceClass": true, "DeviceTaintRule": true, "ResourceSlice": true,
	"StorageVersion": true, "StorageVersionMigration": true,
	"CustomResourceDefinition": true, "APIService": true, "TenantBlueprint": true,
}

// notResources are kinds registered in the scheme that are not objects one
// can create: API discovery documents, options and events.
var notResources = map[string]bool{
	"Status": true, "WatchEvent": true, "APIVersions": true, "APIGroupList": true,
	"APIGroup": true, "APIResourceList": true,
}

// NewStaticMapper is a RESTMapper of client-go's built-in kinds, the
// CustomResourceDefinition kind and this operator's own kinds, with the right
// scope for each. It needs no API server, which makes it the mapper of unit
// tests and examples; the manager uses the cluster's discovery-backed mapper,
// which also knows the custom resources installed there.
func NewStaticMapper() meta.RESTMapper {
	var groupVersions []schema.GroupVersion
	kinds := map[schema.GroupVersionKind]bool{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || notResources[gvk.Kind] ||
			strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
			continue
		}
		kinds[gvk] = true
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
		{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"},
		tenancyv1alpha1.GroupVersion.WithKind("TenantBlueprint"),
		tenancyv1alpha1.GroupVersion.WithKind("TenantInstallation"),
	} {
		kinds[gvk] = true
	}
	seen := map[schema.GroupVersion]bool{}
	for gvk := range kinds {
		if gv := gvk.GroupVersion(); !seen[gv] {
			seen[gv] = true
			groupVersions = append(groupVersions, gv)
		}
	}
	// Sorted so that a version-less lookup is the same on every run.
	slices.SortFunc(groupVersions, func(a, b schema.GroupVersion) int { return strings.Compare(a.String(), b.String()) })
	m := meta.NewDefaultRESTMapper(groupVersions)
	for gvk := range kinds {
		scope := meta.RESTScopeNamespace
		if rootKinds[gvk.Kind] {
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	return m
}
