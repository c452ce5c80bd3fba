package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// Keys of the credentials Secret (spec.credentialsSecretRef) read here.
const (
	// CredentialsKeySystemToken holds the tenant's system_token.
	CredentialsKeySystemToken = "system_token"
	// CredentialsKeySerial, when present, pins the system user JWT audience to spn:{serial}.
	CredentialsKeySerial = "serial"
)

// SuperOfficeOptions configure the SuperOffice provisioners of one operator
// instance (one environment).
type SuperOfficeOptions struct {
	// Environment this instance serves (sod, stage, online, ...).
	Environment string
	// AppName is appended to web panel descriptions (certification rule).
	AppName string
	// Client reads the credentials Secrets and writes the webhook Secrets.
	Client client.Client
	// APIReader, when set, reads webhook Secrets uncached, so a Secret made
	// a moment ago is seen even before the cache has it.
	APIReader client.Reader
	// REST is the environment's shared REST service (limits, 421 memory).
	REST *superoffice.RESTService
	// SystemUser exchanges system tokens for tickets.
	SystemUser *superoffice.SystemUser
	// WebhookBaseURL is the operator's public base; webhooks without a
	// target URL deliver to WebhookBaseURL + /webhooks/superoffice.
	WebhookBaseURL string
	// PublicBaseURL is the operator's public base; the re-consent link is
	// PublicBaseURL + /install?env=<environment>.
	PublicBaseURL string
	// RecheckAfter is how long an artifact found in place is trusted
	// without asking SuperOffice again (1 minute when zero, never when
	// negative). Without it every reconcile re-reads every artifact before
	// reaching the next pending one, and under a rate limit a long
	// blueprint would never finish; with it progress is kept between
	// reconciles. The reconciler's periodic resync still re-checks for drift.
	RecheckAfter time.Duration
}

// WebhookPath is where the operator receives SuperOffice webhooks.
const WebhookPath = "/webhooks/superoffice"

// NewSuperOffice returns the provisioners of every SuperOffice kind, keyed
// by kind, for Registry.SuperOffice.
func NewSuperOffice(opts SuperOfficeOptions) map[string]Provisioner {
	if opts.RecheckAfter == 0 {
		opts.RecheckAfter = time.Minute
	}
	b := &soBase{opts: opts}
	v := &verifiedCache{ttl: opts.RecheckAfter, m: map[string]verified{}}
	return map[string]Provisioner{
		KindWebPanel:         &recheck{&webPanelProvisioner{b}, v},
		KindUserDefinedField: &recheck{&udfProvisioner{b}, v},
		KindButton:           &recheck{&buttonProvisioner{b}, v},
		KindPreference:       &recheck{&preferenceProvisioner{b}, v},
		KindWebhook:          &recheck{&webhookProvisioner{b}, v},
	}
}

// verifiedCache remembers artifacts found in place, per installation, spec
// and endpoint, for a short while.
type verifiedCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]verified
}

type verified struct {
	fingerprint string
	entry       tenancyv1alpha1.ProvisionedArtifact
	at          time.Time
}

func cacheKey(t Tenant, id string) string {
	ti := t.Installation
	return ti.Namespace + "/" + ti.Name + "/" + string(ti.UID) + "|" + id
}

// fingerprint covers everything an Apply depends on besides SuperOffice
// itself, and the reconcile-request annotation: a new value (set by a person
// or by a state change such as BackupRestored) asks for a real re-check.
func fingerprint(t Tenant, d Desired) string {
	ti := t.Installation
	raw, _ := json.Marshal([]any{d.Entry.ID, d.Spec, ti.Spec.Endpoints.WebAPIURL, ti.Spec.CredentialsSecretRef,
		ti.Annotations[tenancyv1alpha1.ReconcileRequestAnnotation]})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// recheck skips SuperOffice for an artifact verified a moment ago.
type recheck struct {
	inner Provisioner
	cache *verifiedCache
}

func (r *recheck) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	if r.cache.ttl < 0 || t.Installation == nil {
		return r.inner.Apply(ctx, t, d)
	}
	key, fp := cacheKey(t, d.Entry.ID), fingerprint(t, d)
	r.cache.mu.Lock()
	v, ok := r.cache.m[key]
	r.cache.mu.Unlock()
	if ok && v.fingerprint == fp && time.Since(v.at) < r.cache.ttl {
		return v.entry, nil
	}
	e, err := r.inner.Apply(ctx, t, d)
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	if err == nil && e.State == tenancyv1alpha1.ArtifactReady {
		if len(r.cache.m) > 4096 {
			// Entries of installations removed without a Delete (released) expire here.
			for k, v := range r.cache.m {
				if time.Since(v.at) >= r.cache.ttl {
					delete(r.cache.m, k)
				}
			}
		}
		r.cache.m[key] = verified{fingerprint: fp, entry: e, at: time.Now()}
	} else {
		delete(r.cache.m, key)
	}
	return e, err
}

func (r *recheck) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	if t.Installation != nil {
		r.cache.mu.Lock()
		delete(r.cache.m, cacheKey(t, e.ID))
		r.cache.mu.Unlock()
	}
	return r.inner.Delete(ctx, t, e)
}

// soBase is what every SuperOffice provisioner shares.
type soBase struct {
	opts SuperOfficeOptions
}

// secretReader reads webhook Secrets: uncached when possible.
func (b *soBase) secretReader() client.Reader {
	if b.opts.APIReader != nil {
		return b.opts.APIReader
	}
	return b.opts.Client
}

// ReconsentURL is where a tenant's administrator gives access again.
func (b *soBase) ReconsentURL() string {
	base := strings.TrimRight(b.opts.PublicBaseURL, "/")
	return base + "/install?env=" + url.QueryEscape(b.opts.Environment)
}

// client builds the REST client of the tenant from its installation and
// credentials Secret.
func (b *soBase) client(ctx context.Context, t Tenant) (*superoffice.Client, error) {
	if b.opts.REST == nil || b.opts.SystemUser == nil || b.opts.Client == nil {
		return nil, errors.New("superoffice provisioner is not configured (REST, SystemUser and Client are required)")
	}
	ti := t.Installation
	if ti == nil {
		return nil, errors.New("superoffice provisioner: no installation given")
	}
	if ti.Spec.CredentialsSecretRef == nil || ti.Spec.CredentialsSecretRef.Name == "" {
		return nil, b.credentials(ti, &superoffice.CredentialsError{Reason: "the installation names no credentials Secret"})
	}
	sec := &corev1.Secret{}
	key := client.ObjectKey{Namespace: ti.Namespace, Name: ti.Spec.CredentialsSecretRef.Name}
	err := b.opts.Client.Get(ctx, key, sec)
	if apierrors.IsNotFound(err) && b.opts.APIReader != nil {
		// A Secret written a moment ago by the callback may not be cached yet.
		err = b.opts.APIReader.Get(ctx, key, sec)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, b.credentials(ti, &superoffice.CredentialsError{Reason: fmt.Sprintf("the credentials Secret %s does not exist", key.Name)})
		}
		return nil, fmt.Errorf("read credentials Secret %s: %w", key.Name, err)
	}
	token := string(sec.Data[CredentialsKeySystemToken])
	if token == "" {
		return nil, b.credentials(ti, &superoffice.CredentialsError{Reason: fmt.Sprintf("the credentials Secret %s holds no %s (server access was not consented)", key.Name, CredentialsKeySystemToken)})
	}
	tickets := superoffice.SystemUserTickets(b.opts.SystemUser, superoffice.SystemUserCredentials{
		TenantID: ti.Spec.TenantID, SystemToken: token, Serial: string(sec.Data[CredentialsKeySerial]),
	})
	c, err := b.opts.REST.Tenant(superoffice.TenantClientOptions{
		TenantID:  ti.Spec.TenantID,
		WebAPIURL: ti.Spec.Endpoints.WebAPIURL,
		Tickets:   tickets,
		Meter:     &superoffice.Meter{Usage: t.Usage},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// convert turns the superoffice package's errors into the reconciler's.
func (b *soBase) convert(ti *tenancyv1alpha1.TenantInstallation, what string, err error) error {
	if err == nil {
		return nil
	}
	if t, ok := superoffice.AsThrottled(err); ok {
		return &ThrottledError{RetryAfter: t.RetryAfter, Reason: t.Reason}
	}
	if c, ok := superoffice.AsCredentials(err); ok {
		return b.credentials(ti, c)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (b *soBase) credentials(ti *tenancyv1alpha1.TenantInstallation, c *superoffice.CredentialsError) error {
	tenant := ""
	if ti != nil {
		tenant = ti.Spec.TenantID
	}
	link := b.ReconsentURL()
	return &CredentialsError{
		Message: fmt.Sprintf("SuperOffice access for tenant %s is refused (%s). An administrator of the tenant must install the app again to give consent: %s",
			tenant, c.Reason, link),
		ReconsentURL: link,
		Err:          c,
	}
}

// specOf accepts a rendered spec by value or by pointer.
func specOf[T any](d Desired) (T, error) {
	switch v := d.Spec.(type) {
	case T:
		return v, nil
	case *T:
		if v != nil {
			return *v, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("artifact %s: spec is %T, want %T", d.Entry.ID, d.Spec, zero)
}

// ready is the entry to record after a successful Apply.
func ready(d Desired, remoteID string) tenancyv1alpha1.ProvisionedArtifact {
	e := d.Entry
	e.RemoteID = remoteID
	e.State = tenancyv1alpha1.ArtifactReady
	e.Message = ""
	return e
}

// identityFromID returns the identity part of an inventory id
// "SuperOffice:<Kind>:<identity>".
func identityFromID(e tenancyv1alpha1.ProvisionedArtifact) string {
	prefix := string(tenancyv1alpha1.TargetSuperOffice) + ":" + e.Kind + ":"
	if s, ok := strings.CutPrefix(e.ID, prefix); ok {
		return s
	}
	return ""
}

// EndpointUpdater returns a function for superoffice.RESTOptions.OnEndpointMoved:
// it writes a tenant's new API base into spec.endpoints.webAPIURL of its
// installations in this environment, so the next client starts at the right
// host. Failures are returned to report (the REST service remembers the move
// in memory meanwhile).
func EndpointUpdater(c client.Client, environment string) func(ctx context.Context, tenantID, webAPIURL string) error {
	return func(ctx context.Context, tenantID, webAPIURL string) error {
		var list tenancyv1alpha1.TenantInstallationList
		if err := c.List(ctx, &list); err != nil {
			return fmt.Errorf("list installations to record the moved endpoint of %s: %w", tenantID, err)
		}
		var errs []error
		for i := range list.Items {
			ti := &list.Items[i]
			if !strings.EqualFold(ti.Spec.TenantID, tenantID) || ti.Spec.Environment != environment || ti.Spec.Endpoints.WebAPIURL == webAPIURL {
				continue
			}
			patch := client.MergeFromWithOptions(ti.DeepCopy(), client.MergeFromWithOptimisticLock{})
			ti.Spec.Endpoints.WebAPIURL = webAPIURL
			if err := c.Patch(ctx, ti, patch); err != nil {
				errs = append(errs, fmt.Errorf("record moved endpoint in %s/%s: %w", ti.Namespace, ti.Name, err))
			}
		}
		return errors.Join(errs...)
	}
}
