package controllers

import (
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// CacheOptions caches only what the operator owns: its own kinds in full,
// everything else (Secrets and ConfigMaps included) only when it carries the
// managed-by label. The cluster's other objects never enter memory.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{tenancyv1alpha1.ManagedByLabel: tenancyv1alpha1.ManagedByValue}),
		ByObject: map[client.Object]cache.ByObject{
			&tenancyv1alpha1.TenantInstallation{}: {Label: labels.Everything()},
			&tenancyv1alpha1.TenantBlueprint{}:    {Label: labels.Everything()},
		},
	}
}

// ClientOptions make unstructured reads of artifacts go through that same
// label-selected cache, so steady-state reconciles cost the API server nothing.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{Unstructured: true}}
}
