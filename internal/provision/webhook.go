package provision

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// Webhook Secrets: one per webhook, in the installation's namespace, named
// "<installation>-webhook-<name>". The receiver finds them by labels.
const (
	// WebhookNameLabel carries the webhook's name, made label-safe.
	WebhookNameLabel = "tenancy.tenant-operator.io/webhook"
	// WebhookTenantLabel carries the tenant id, lowercased.
	WebhookTenantLabel = "tenancy.tenant-operator.io/tenant"
	// WebhookSecretKey holds the HMAC secret shared with SuperOffice.
	WebhookSecretKey = "secret"
	// WebhookNameKey holds the webhook's name exactly as registered.
	WebhookNameKey = "name"
	// WebhookTenantKey holds the tenant id exactly.
	WebhookTenantKey = "tenant"
)

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// WebhookLabelValue makes a webhook name fit a label value and a Secret name.
func WebhookLabelValue(name string) string {
	v := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(v) > 50 {
		v = strings.Trim(v[:50], "-")
	}
	return v
}

// WebhookSecretName is the Secret holding a webhook's secret.
func WebhookSecretName(installation, webhook string) string {
	return installation + "-webhook-" + WebhookLabelValue(webhook)
}

type soWebhook struct {
	WebhookId int      `json:"WebhookId"`
	Name      string   `json:"Name"`
	Events    []string `json:"Events"`
	TargetUrl string   `json:"TargetUrl"`
	Secret    string   `json:"Secret,omitempty"`
	State     string   `json:"State"`
	Type      string   `json:"Type"`
}

// webhookProvisioner manages webhooks, identified by name among the app's own.
type webhookProvisioner struct{ *soBase }

func (p *webhookProvisioner) target(s tenancyv1alpha1.Webhook) (string, error) {
	if s.TargetURL != "" {
		return s.TargetURL, nil
	}
	if p.opts.WebhookBaseURL == "" {
		return "", fmt.Errorf("webhook %s has no targetURL and the operator has no webhookBaseURL configured", s.Name)
	}
	return strings.TrimRight(p.opts.WebhookBaseURL, "/") + WebhookPath, nil
}

// ensureSecret returns the webhook's secret, creating the Secret first when
// missing (created is then true). The Secret exists before the webhook, so
// even the first delivery can be verified.
func (p *webhookProvisioner) ensureSecret(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, name string) (secret string, created bool, err error) {
	key := client.ObjectKey{Namespace: ti.Namespace, Name: WebhookSecretName(ti.Name, name)}
	sec := &corev1.Secret{}
	err = p.secretReader().Get(ctx, key, sec)
	switch {
	case err == nil:
		if sec.Labels[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue {
			return "", false, fmt.Errorf("webhook %s: Secret %s exists but is not managed by tenant-operator; not touching it", name, key.Name)
		}
		if s := string(sec.Data[WebhookSecretKey]); s != "" {
			return s, false, nil
		}
	case !apierrors.IsNotFound(err):
		return "", false, fmt.Errorf("webhook %s: read Secret %s: %w", name, key.Name, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("webhook %s: generate secret: %w", name, err)
	}
	secret = base64.RawURLEncoding.EncodeToString(buf)
	data := map[string][]byte{WebhookSecretKey: []byte(secret), WebhookNameKey: []byte(name), WebhookTenantKey: []byte(ti.Spec.TenantID)}
	if err == nil {
		// Ours but empty: refill it.
		sec.Data = data
		if err := p.opts.Client.Update(ctx, sec); err != nil {
			return "", false, fmt.Errorf("webhook %s: update Secret %s: %w", name, key.Name, err)
		}
		return secret, true, nil
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			tenancyv1alpha1.ManagedByLabel:    tenancyv1alpha1.ManagedByValue,
			tenancyv1alpha1.InstallationLabel: tenancyv1alpha1.InstallationLabelValue(ti.Namespace, ti.Name),
			tenancyv1alpha1.EnvironmentLabel:  ti.Spec.Environment,
			WebhookNameLabel:                  WebhookLabelValue(name),
			WebhookTenantLabel:                strings.ToLower(ti.Spec.TenantID),
		}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if ti.UID != "" {
		// A safety net only: uninstall deletes it explicitly.
		sec.OwnerReferences = []metav1.OwnerReference{{APIVersion: tenancyv1alpha1.GroupVersion.String(), Kind: "TenantInstallation", Name: ti.Name, UID: ti.UID}}
	}
	if err := p.opts.Client.Create(ctx, sec); err != nil {
		return "", false, fmt.Errorf("webhook %s: create Secret %s: %w", name, key.Name, err)
	}
	return secret, true, nil
}

func (p *webhookProvisioner) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	spec, err := specOf[tenancyv1alpha1.Webhook](d)
	if err != nil {
		return d.Entry, err
	}
	target, err := p.target(spec)
	if err != nil {
		return d.Entry, err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return d.Entry, err
	}
	if err := c.Expect(superoffice.OpWebhookWrite, 2); err != nil {
		return d.Entry, p.convert(t.Installation, "webhook "+spec.Name, err)
	}
	secret, fresh, err := p.ensureSecret(ctx, t.Installation, spec.Name)
	if err != nil {
		return d.Entry, err
	}
	want := soWebhook{Name: spec.Name, Events: spec.Events, TargetUrl: target, Secret: secret, State: "Active", Type: "webhook"}
	id, err := p.kind().apply(ctx, c, t.Installation, spec.Name, namedWrite[soWebhook]{
		create: func() (int, error) {
			var out soWebhook
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebhookWrite, Method: http.MethodPost, Path: "v1/Webhook", Body: want}, &out)
			return out.WebhookId, err
		},
		update: func(keep soWebhook) error {
			// A new secret (the Secret was lost) must reach SuperOffice too; the
			// remote secret cannot be read back to compare.
			if !fresh && keep.TargetUrl == want.TargetUrl && keep.State == want.State && sameSet(keep.Events, want.Events) {
				return nil
			}
			want.WebhookId = keep.WebhookId
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpWebhookWrite, Method: http.MethodPut, Path: "v1/Webhook/" + strconv.Itoa(keep.WebhookId), Body: want, Idempotent: true}, nil)
		},
		redact: func(err error) error { return scrub(err, secret) },
	})
	if err != nil {
		return d.Entry, err
	}
	return ready(d, strconv.Itoa(id)), nil
}

// scrub keeps the webhook secret out of an error, should SuperOffice echo
// the request in its answer; errors that cannot hold it keep their type.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// kind is how webhooks are found, deleted and read back.
func (p *webhookProvisioner) kind() namedKind[soWebhook] {
	return namedKind[soWebhook]{
		soBase: p.soBase, noun: "webhook", plural: "webhooks", deleteOp: superoffice.OpWebhookDel,
		id: func(h soWebhook) int { return h.WebhookId },
		list: func(ctx context.Context, c *superoffice.Client, name string) ([]soWebhook, error) {
			var all []soWebhook
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebhookGet, Method: http.MethodGet, Path: "v1/Webhook",
				Query: url.Values{"name": {name}}, Idempotent: true}, &all)
			return all, err
		},
		live: func(h soWebhook, name string) bool { return h.Name == name },
		remove: func(ctx context.Context, c *superoffice.Client, id int) error {
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpWebhookDel, Method: http.MethodDelete, Path: "v1/Webhook/" + strconv.Itoa(id), Idempotent: true}, nil)
		},
		readBack: func(ctx context.Context, c *superoffice.Client, id int) (string, error) {
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebhookGet, Method: http.MethodGet, Path: "v1/Webhook/" + strconv.Itoa(id), Idempotent: true}, nil)
			if err != nil {
				return "", err
			}
			return stillExists, nil
		},
	}
}

func (p *webhookProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	if done, msg, err := p.kind().delete(ctx, t, e); !done {
		return done, msg, err
	}
	// The secret goes last: until the webhook is gone, deliveries must verify.
	ti := t.Installation
	sec := &corev1.Secret{}
	key := client.ObjectKey{Namespace: ti.Namespace, Name: WebhookSecretName(ti.Name, e.Name)}
	switch err := p.secretReader().Get(ctx, key, sec); {
	case apierrors.IsNotFound(err):
		return true, "", nil
	case err != nil:
		return false, "the webhook's Secret could not be read", fmt.Errorf("read Secret %s: %w", key.Name, err)
	case sec.Labels[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue:
		// Not ours: never delete what we did not make.
		return true, "", nil
	}
	if err := p.opts.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); err != nil && !apierrors.IsNotFound(err) {
		return false, "the webhook's Secret could not be deleted", fmt.Errorf("delete Secret %s: %w", key.Name, err)
	}
	return true, "", nil
}
