package v1alpha1

import (
	"fmt"
	"strings"
)

// Names every artifact, dashboard and doc relies on (DESIGN.md, "Names").
const (
	// Finalizer guards complete removal of everything an installation provisioned.
	Finalizer = "tenancy.tenant-operator.io/cleanup"

	// ManagedByLabel and ManagedByValue mark every object the operator creates.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "tenant-operator"

	// InstallationLabel carries "<namespace>.<name>" of the owning installation.
	InstallationLabel = "tenancy.tenant-operator.io/installation"

	// EnvironmentLabel carries the SuperOffice environment of an installation
	// and of the objects made for it.
	EnvironmentLabel = "tenancy.tenant-operator.io/environment"

	// ReleaseAnnotation, set to "true" on an installation that is being
	// deleted, lets the platform team deliberately give up on artifacts that
	// cannot be removed; the finalizer is then released and an event records
	// what was left behind.
	ReleaseAnnotation = "tenancy.tenant-operator.io/release"

	// ReconcileRequestAnnotation, set to any new value, asks for a full
	// re-check of every artifact (the Flux convention).
	ReconcileRequestAnnotation = "tenancy.tenant-operator.io/reconcile-requested-at"

	// FieldOwner is the server-side apply field manager of the operator.
	FieldOwner = "tenant-operator"

	// DefaultBlueprint is used when an installation names none.
	DefaultBlueprint = "default"
)

// InstallationName is the deterministic name of a tenant's installation in
// one environment: "<environment>-<tenant id lowercased>", e.g. online-cust12345.
// A replayed or repeated install callback therefore never makes a second one.
func InstallationName(environment, tenantID string) string {
	return fmt.Sprintf("%s-%s", strings.ToLower(environment), strings.ToLower(tenantID))
}

// InstallationLabelValue is the value of InstallationLabel for an installation.
func InstallationLabelValue(namespace, name string) string {
	return namespace + "." + name
}

// ParseInstallationLabelValue splits an InstallationLabel value back into
// namespace and name. Namespaces cannot contain dots, so the first dot splits.
func ParseInstallationLabelValue(v string) (namespace, name string, ok bool) {
	ns, n, found := strings.Cut(v, ".")
	if !found || ns == "" || n == "" {
		return "", "", false
	}
	return ns, n, true
}
