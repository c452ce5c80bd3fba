// Package provision holds one provisioner per artifact kind. A provisioner
// creates, adopts, updates and removes one kind of artifact for one tenant;
// the reconciler decides what should exist and records the result in the
// inventory.
package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// SuperOffice artifact kinds, as recorded in the inventory.
const (
	KindWebPanel         = "WebPanel"
	KindUserDefinedField = "UserDefinedField"
	KindButton           = "Button"
	KindPreference       = "Preference"
	KindWebhook          = "Webhook"
)

// Tenant is what a provisioner knows of the installation it works for.
type Tenant struct {
	// Installation is read-only for provisioners.
	Installation *tenancyv1alpha1.TenantInstallation
	// Usage accumulates this reconcile's SuperOffice API use; the reconciler
	// writes it to status.usage. Never nil when a provisioner is called.
	Usage *tenancyv1alpha1.Usage
}

// Desired is one artifact the blueprint asks for.
type Desired struct {
	// Entry has ID, Target, Kind, Name and (Kubernetes) APIVersion and Namespace set.
	Entry tenancyv1alpha1.ProvisionedArtifact
	// Object is the rendered Kubernetes object (Target Kubernetes only).
	Object *unstructured.Unstructured
	// Spec is the rendered SuperOffice artifact (Target SuperOffice only): one of
	// tenancyv1alpha1.WebPanel, UserDefinedField, Button, Preference, Webhook.
	Spec any
}

// Provisioner manages one kind of artifact.
type Provisioner interface {
	// Apply makes the artifact match d. It finds an existing artifact by its
	// deterministic identity before creating one, so that a crash between a
	// create and the status write adopts instead of duplicating. It must make
	// no write when the artifact already matches. It returns the entry to
	// record, with RemoteID and State Ready.
	Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error)

	// Delete removes the artifact recorded by e and reports whether removal
	// is verified (NotFound / 404 counts as removed). When not gone, reason
	// says, in words for a person, what still holds it.
	Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (gone bool, reason string, err error)
}

// ThrottledError tells the reconciler that the remote side asked us to slow
// down. The reconciler requeues after RetryAfter and shows Throttled=True; it
// never sleeps in a worker.
type ThrottledError struct {
	RetryAfter time.Duration
	Reason     string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled: %s; retry after %s", e.Reason, e.RetryAfter)
}

// AsThrottled reports whether err is, or wraps, a ThrottledError.
func AsThrottled(err error) (*ThrottledError, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t, true
	}
	return nil, false
}

// CredentialsError says the tenant's SuperOffice access is gone or refused
// (revoked consent, unknown tenant). The reconciler shows it as
// CredentialsValid=False with Message; ReconsentURL is where the admin fixes it.
type CredentialsError struct {
	Message      string
	ReconsentURL string
	Err          error
}

func (e *CredentialsError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("credentials: %s: %v", e.Message, e.Err)
	}
	return "credentials: " + e.Message
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// AsCredentials reports whether err is, or wraps, a CredentialsError.
func AsCredentials(err error) (*CredentialsError, bool) {
	var c *CredentialsError
	if errors.As(err, &c) {
		return c, true
	}
	return nil, false
}

// Registry picks the provisioner for an artifact.
type Registry struct {
	// Kubernetes handles every Kubernetes artifact.
	Kubernetes Provisioner
	// SuperOffice maps a SuperOffice kind (KindWebPanel, ...) to its provisioner.
	SuperOffice map[string]Provisioner
}

// For returns the provisioner of an artifact, or an error naming what is missing.
func (r Registry) For(target tenancyv1alpha1.Target, kind string) (Provisioner, error) {
	switch target {
	case tenancyv1alpha1.TargetKubernetes:
		if r.Kubernetes != nil {
			return r.Kubernetes, nil
		}
	case tenancyv1alpha1.TargetSuperOffice:
		if p, ok := r.SuperOffice[kind]; ok && p != nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no provisioner for %s artifact of kind %q", target, kind)
}
