package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

// WebhookReceiverPath is where SuperOffice delivers webhooks.
const WebhookReceiverPath = provision.WebhookPath

// Headers SuperOffice puts on webhook deliveries.
const (
	HeaderWebhookSignature = "X-SuperOffice-Signature"
	HeaderWebhookEvent     = "X-SuperOffice-Event"
	HeaderWebhookEventID   = "X-SuperOffice-EventId"
)

// webhookTestEvent is the event name of SuperOffice's registration test.
const webhookTestEvent = "test"

// ErrUnknownWebhook is what a WebhookSecretLookup returns for a webhook it does not know.
var ErrUnknownWebhook = errors.New("unknown webhook")

// WebhookSecretLookup returns the secrets a delivery for (tenant, webhook
// name) may be signed with; more than one while a secret is being replaced.
type WebhookSecretLookup func(ctx context.Context, tenantID, webhookName string) ([][]byte, error)

// WebhookEvent is a verified delivery.
type WebhookEvent struct {
	EventID     string `json:"EventId"`
	Event       string `json:"Event"`
	TenantID    string `json:"ContextIdentifier"`
	WebhookName string `json:"WebhookName"`
	Entity      string `json:"Entity"`
	PrimaryKey  int64  `json:"PrimaryKey"`
	Timestamp   string `json:"Timestamp"`
	// ChangedBy is the associate who made the change.
	ChangedBy int64 `json:"ChangedByAssociateId"`
}

// WebhookReceiverOptions build the receiver.
type WebhookReceiverOptions struct {
	// Lookup finds a webhook's secret; WebhookSecretsFromCluster in production.
	Lookup WebhookSecretLookup
	// OnEvent, when set, is given every verified delivery. It must not block.
	OnEvent func(ctx context.Context, e WebhookEvent)
	// Log receives outcomes (event ids and names, never secrets or bodies).
	Log logr.Logger
}

// NewWebhookReceiver returns the handler of POST /webhooks/superoffice: it
// answers SuperOffice's registration test with 200 and accepts a delivery
// only when X-SuperOffice-Signature is base64(HMAC-SHA256(secret, raw body))
// for the secret of the webhook the body names.
func NewWebhookReceiver(o WebhookReceiverOptions) (http.Handler, error) {
	if o.Lookup == nil {
		return nil, errors.New("webhook receiver: no secret lookup")
	}
	return &webhookReceiver{o: o}, nil
}

type webhookReceiver struct {
	o WebhookReceiverOptions
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var ev WebhookEvent
	jsonErr := json.Unmarshal(body, &ev)
	if strings.EqualFold(r.Header.Get(HeaderWebhookEvent), webhookTestEvent) || (jsonErr == nil && strings.EqualFold(ev.Event, webhookTestEvent)) {
		// The registration test carries nothing to act on; SuperOffice only
		// needs to see that the target answers.
		h.o.Log.V(1).Info("webhook registration test answered", "tenant", ev.TenantID, "webhook", ev.WebhookName)
		w.WriteHeader(http.StatusOK)
		return
	}
	if jsonErr != nil {
		http.Error(w, "body is not a SuperOffice webhook event", http.StatusBadRequest)
		return
	}
	if ev.TenantID == "" || ev.WebhookName == "" {
		http.Error(w, "event names no ContextIdentifier or WebhookName", http.StatusBadRequest)
		return
	}
	sig, err := decodeSignature(r.Header.Get(HeaderWebhookSignature))
	if err != nil {
		h.o.Log.Info("webhook delivery refused", "tenant", ev.TenantID, "webhook", ev.WebhookName, "reason", err.Error())
		http.Error(w, "missing or malformed signature", http.StatusUnauthorized)
		return
	}
	secrets, err := h.o.Lookup(r.Context(), ev.TenantID, ev.WebhookName)
	switch {
	case errors.Is(err, ErrUnknownWebhook):
		h.o.Log.Info("webhook delivery refused", "tenant", ev.TenantID, "webhook", ev.WebhookName, "reason", "unknown webhook")
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	case err != nil:
		h.o.Log.Error(err, "webhook secret lookup failed", "tenant", ev.TenantID, "webhook", ev.WebhookName)
		http.Error(w, "temporarily unable to verify", http.StatusServiceUnavailable)
		return
	}
	if !signatureMatches(body, sig, secrets) {
		h.o.Log.Info("webhook delivery refused", "tenant", ev.TenantID, "webhook", ev.WebhookName, "reason", "signature does not verify")
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	if ev.EventID == "" {
		ev.EventID = r.Header.Get(HeaderWebhookEventID)
	}
	h.o.Log.V(1).Info("webhook delivery accepted", "tenant", ev.TenantID, "webhook", ev.WebhookName, "event", ev.Event, "eventID", ev.EventID)
	if h.o.OnEvent != nil {
		h.o.OnEvent(r.Context(), ev)
	}
	w.WriteHeader(http.StatusOK)
}

func decodeSignature(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errors.New("no " + HeaderWebhookSignature + " header")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == sha256.Size {
			return b, nil
		}
	}
	return nil, errors.New("signature is not a base64 HMAC-SHA256")
}

// signatureMatches compares in constant time against every candidate secret.
func signatureMatches(body, sig []byte, secrets [][]byte) bool {
	ok := false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, s)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sig) {
			ok = true
		}
	}
	return ok
}

// WebhookSecretsFromCluster finds webhook secrets in the Secrets the
// webhook provisioner writes, by their labels, in any namespace; only
// Secrets of this operator's environment count.
func WebhookSecretsFromCluster(r client.Reader, environment string) WebhookSecretLookup {
	return func(ctx context.Context, tenantID, name string) ([][]byte, error) {
		var list corev1.SecretList
		err := r.List(ctx, &list, client.MatchingLabels{
			tenancyv1alpha1.ManagedByLabel:   tenancyv1alpha1.ManagedByValue,
			tenancyv1alpha1.EnvironmentLabel: environment,
			provision.WebhookTenantLabel:     strings.ToLower(tenantID),
			provision.WebhookNameLabel:       provision.WebhookLabelValue(name),
		})
		if err != nil {
			return nil, fmt.Errorf("list webhook secrets: %w", err)
		}
		var out [][]byte
		for _, s := range list.Items {
			// Labels are lossy (lowercased, shortened); the data says exactly.
			if string(s.Data[provision.WebhookNameKey]) == name && strings.EqualFold(string(s.Data[provision.WebhookTenantKey]), tenantID) {
				if v := s.Data[provision.WebhookSecretKey]; len(v) > 0 {
					out = append(out, v)
				}
			}
		}
		if len(out) == 0 {
			return nil, ErrUnknownWebhook
		}
		return out, nil
	}
}
