package callback

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// Keys of the credentials Secret.
const (
	SecretKeySystemToken  = "system_token"
	SecretKeyRefreshToken = "refresh_token"
	// SecretKeySerial holds the tenant's serial; the system-user exchange
	// pins the returned JWT's audience to spn:{serial} with it
	// (provision.CredentialsKeySerial reads the same key).
	SecretKeySerial = "serial"
)

var (
	errOtherTenant  = errors.New("installation name belongs to another tenant")
	errBeingRemoved = errors.New("installation is being removed")
)

// CredentialsSecretName is the name of an installation's credentials Secret.
func CredentialsSecretName(installation string) string { return installation + "-credentials" }

// upsertInstallation creates or updates the tenant's installation and its
// credentials Secret. The name is deterministic, so a repeated callback
// updates; a callback for another tenant can never overwrite it.
func (s *Server) upsertInstallation(ctx context.Context, c *superoffice.Claims, refreshToken string) error {
	ns := s.cfg.Callback.Namespace
	name := tenancyv1alpha1.InstallationName(s.env, c.TenantID)
	secretName := CredentialsSecretName(name)

	spec := tenancyv1alpha1.TenantInstallationSpec{
		TenantID:             c.TenantID,
		Environment:          s.env,
		Endpoints:            tenancyv1alpha1.Endpoints{WebAPIURL: c.WebAPIURL, NetServerURL: c.NetServerURL},
		CredentialsSecretRef: &tenancyv1alpha1.LocalSecretReference{Name: secretName},
		InstalledBy:          &tenancyv1alpha1.InstalledBy{AssociateID: c.AssociateID, UPN: c.UPN, Email: c.Email},
	}
	ti := &tenancyv1alpha1.TenantInstallation{}
	err := s.opts.WriterReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ti)
	switch {
	case apierrors.IsNotFound(err):
		ti = &tenancyv1alpha1.TenantInstallation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: s.labels(ns, name)},
			Spec:       spec,
		}
		if err := s.opts.Writer.Create(ctx, ti); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// Another replica won the race; its object is the same tenant's
				// (same deterministic name), so go on as an update next time.
				return fmt.Errorf("create installation %s: created concurrently, retry: %w", name, err)
			}
			return fmt.Errorf("create installation %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("read installation %s: %w", name, err)
	default:
		if !strings.EqualFold(ti.Spec.TenantID, c.TenantID) || ti.Spec.Environment != s.env {
			return errOtherTenant
		}
		if ti.DeletionTimestamp != nil {
			return errBeingRemoved
		}
		want := ti.DeepCopy()
		want.Spec.Endpoints = spec.Endpoints
		want.Spec.CredentialsSecretRef = spec.CredentialsSecretRef
		want.Spec.InstalledBy = spec.InstalledBy
		if want.Labels == nil {
			want.Labels = map[string]string{}
		}
		maps.Copy(want.Labels, s.labels(ns, name))
		if !equalSpecAndLabels(ti, want) {
			// Merge patch with the resourceVersion: a concurrent change conflicts
			// instead of being overwritten.
			if err := s.opts.Writer.Patch(ctx, want, client.MergeFromWithOptions(ti, client.MergeFromWithOptimisticLock{})); err != nil {
				return fmt.Errorf("update installation %s: %w", name, err)
			}
		}
		ti = want
	}
	return s.upsertCredentials(ctx, ti, secretName, c.SystemToken.Reveal(), refreshToken, c.Serial)
}

func equalSpecAndLabels(a, b *tenancyv1alpha1.TenantInstallation) bool {
	return maps.Equal(a.Labels, b.Labels) &&
		a.Spec.Endpoints == b.Spec.Endpoints &&
		ptr.Equal(a.Spec.CredentialsSecretRef, b.Spec.CredentialsSecretRef) &&
		ptr.Equal(a.Spec.InstalledBy, b.Spec.InstalledBy)
}

func (s *Server) labels(ns, name string) map[string]string {
	return map[string]string{
		tenancyv1alpha1.ManagedByLabel:    tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.InstallationLabel: tenancyv1alpha1.InstallationLabelValue(ns, name),
		tenancyv1alpha1.EnvironmentLabel:  s.env,
	}
}

// upsertCredentials stores the tokens in a Secret owned by the installation
// (garbage-collected with it) and labelled so the operator's cache sees it.
// It refuses to touch a Secret of that name that is not ours.
func (s *Server) upsertCredentials(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, name, systemToken, refreshToken, serial string) error {
	ns := ti.Namespace
	data := map[string][]byte{}
	if serial != "" {
		data[SecretKeySerial] = []byte(serial)
	}
	if systemToken != "" {
		data[SecretKeySystemToken] = []byte(systemToken)
	}
	if refreshToken != "" {
		data[SecretKeyRefreshToken] = []byte(refreshToken)
	}
	owner := metav1.OwnerReference{
		APIVersion: tenancyv1alpha1.GroupVersion.String(),
		Kind:       "TenantInstallation",
		Name:       ti.Name,
		UID:        ti.UID,
	}
	sec := &corev1.Secret{}
	err := s.opts.WriterReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: s.labels(ns, ti.Name), OwnerReferences: ownerRefs(owner)},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := s.opts.Writer.Create(ctx, sec); err != nil {
			return fmt.Errorf("create credentials secret %s: %w", name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read credentials secret %s: %w", name, err)
	}
	if sec.Labels[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue ||
		sec.Labels[tenancyv1alpha1.InstallationLabel] != tenancyv1alpha1.InstallationLabelValue(ns, ti.Name) {
		return fmt.Errorf("credentials secret %s exists but is not the operator's: %w", name, errOtherTenant)
	}
	want := sec.DeepCopy()
	if want.Data == nil {
		want.Data = map[string][]byte{}
	}
	// A new consent brings new tokens; keep a stored value the new answer
	// lacks (the code flow has a refresh token, the form_post flow has not).
	maps.Copy(want.Data, data)
	maps.Copy(want.Labels, s.labels(ns, ti.Name))
	if ti.UID != "" && !hasOwner(want.OwnerReferences, owner) {
		// A Secret left from an earlier installation of the same name points at
		// the old object; point it at this one.
		want.OwnerReferences = ownerRefs(owner)
	}
	if maps.EqualFunc(sec.Data, want.Data, func(a, b []byte) bool { return string(a) == string(b) }) &&
		maps.Equal(sec.Labels, want.Labels) && len(sec.OwnerReferences) == len(want.OwnerReferences) && hasOwner(sec.OwnerReferences, owner) {
		return nil
	}
	if err := s.opts.Writer.Patch(ctx, want, client.MergeFromWithOptions(sec, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("update credentials secret %s: %w", name, err)
	}
	return nil
}

func ownerRefs(o metav1.OwnerReference) []metav1.OwnerReference {
	if o.UID == "" {
		return nil
	}
	return []metav1.OwnerReference{o}
}

func hasOwner(refs []metav1.OwnerReference, o metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.UID == o.UID && r.Kind == o.Kind && r.Name == o.Name {
			return true
		}
	}
	return o.UID == ""
}
