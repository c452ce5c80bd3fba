package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func staticLookup(secrets map[string]string, fail error) WebhookSecretLookup {
	return func(_ context.Context, tenant, name string) ([][]byte, error) {
		if fail != nil {
			return nil, fail
		}
		s, ok := secrets[tenant+"/"+name]
		if !ok {
			return nil, ErrUnknownWebhook
		}
		return [][]byte{[]byte(s)}, nil
	}
}

func TestWebhookReceiver(t *testing.T) {
	const event = `{"EventId":"e1","Event":"contact.created","ContextIdentifier":"Cust1","WebhookName":"contacts","PrimaryKey":42}`
	secrets := map[string]string{"Cust1/contacts": "s3cret"}
	cases := []struct {
		name     string
		method   string
		body     string
		headers  map[string]string
		lookupEr error
		want     int
		wantEvt  bool
	}{
		{"registration test by header", "POST", `{"Event":"test"}`, map[string]string{HeaderWebhookEvent: "test"}, nil, 200, false},
		{"registration test by body, unsigned", "POST", `{"Event":"test","ContextIdentifier":"Cust1","WebhookName":"contacts"}`, nil, nil, 200, false},
		{"signed delivery", "POST", event, map[string]string{HeaderWebhookSignature: sign("s3cret", event)}, nil, 200, true},
		{"signature over another body", "POST", strings.Replace(event, "42", "43", 1), map[string]string{HeaderWebhookSignature: sign("s3cret", event)}, nil, 401, false},
		{"wrong secret", "POST", event, map[string]string{HeaderWebhookSignature: sign("other", event)}, nil, 401, false},
		{"no signature", "POST", event, nil, nil, 401, false},
		{"garbage signature", "POST", event, map[string]string{HeaderWebhookSignature: "!!!"}, nil, 401, false},
		{"unknown webhook", "POST", strings.Replace(event, "contacts", "other", 1), map[string]string{HeaderWebhookSignature: sign("s3cret", strings.Replace(event, "contacts", "other", 1))}, nil, 401, false},
		{"lookup fails", "POST", event, map[string]string{HeaderWebhookSignature: sign("s3cret", event)}, errors.New("cache down"), 503, false},
		{"not json", "POST", "hello", nil, nil, 400, false},
		{"names no webhook", "POST", `{"Event":"x"}`, nil, nil, 400, false},
		{"wrong method", "GET", "", nil, nil, 405, false},
		{"too large", "POST", `{"Event":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, nil, nil, 413, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []WebhookEvent
			h, err := NewWebhookReceiver(WebhookReceiverOptions{Lookup: staticLookup(secrets, tc.lookupEr),
				OnEvent: func(_ context.Context, e WebhookEvent) { got = append(got, e) }})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tc.method, WebhookReceiverPath, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if (len(got) == 1) != tc.wantEvt {
				t.Errorf("events = %+v, want delivered=%v", got, tc.wantEvt)
			}
			if tc.wantEvt && (got[0].EventID != "e1" || got[0].PrimaryKey != 42 || got[0].TenantID != "Cust1") {
				t.Errorf("event = %+v", got[0])
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Error("answer leaks the secret")
			}
		})
	}
	if _, err := NewWebhookReceiver(WebhookReceiverOptions{}); err == nil {
		t.Error("a receiver without lookup was built")
	}
}

func TestWebhookSecretsFromCluster(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mk := func(ns, env, tenant, name, secret string, managed bool) *corev1.Secret {
		labels := map[string]string{
			tenancyv1alpha1.EnvironmentLabel: env,
			provision.WebhookTenantLabel:     strings.ToLower(tenant),
			provision.WebhookNameLabel:       provision.WebhookLabelValue(name),
		}
		if managed {
			labels[tenancyv1alpha1.ManagedByLabel] = tenancyv1alpha1.ManagedByValue
		}
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: provision.WebhookSecretName(env+"-"+strings.ToLower(tenant), name), Labels: labels},
			Data: map[string][]byte{provision.WebhookSecretKey: []byte(secret), provision.WebhookNameKey: []byte(name), provision.WebhookTenantKey: []byte(tenant)}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		mk("ops", "online", "Cust1", "Contact Events", "right", true),
		mk("ops", "sod", "Cust1", "Contact Events", "other-env", true),
		mk("other", "online", "Cust1", "contact-events", "similar-name", true),
		mk("x", "online", "Cust1", "Contact Events", "not-ours", false),
	).Build()
	lookup := WebhookSecretsFromCluster(c, "online")
	got, err := lookup(context.Background(), "Cust1", "Contact Events")
	if err != nil || len(got) != 1 || string(got[0]) != "right" {
		t.Fatalf("lookup = %q, %v; want exactly the online, managed, exact-name secret", got, err)
	}
	if _, err := lookup(context.Background(), "Cust2", "Contact Events"); !errors.Is(err, ErrUnknownWebhook) {
		t.Errorf("unknown tenant: %v", err)
	}
}

func FuzzWebhookReceiver(f *testing.F) {
	f.Add(`{"Event":"contact.created","ContextIdentifier":"Cust1","WebhookName":"w"}`, "")
	f.Add(`{"Event":"test"}`, "x")
	f.Add(`[]`, sign("k", "[]"))
	f.Add(`{"ContextIdentifier":1}`, "AAAA")
	h, err := NewWebhookReceiver(WebhookReceiverOptions{Lookup: staticLookup(map[string]string{"Cust1/w": "k"}, nil)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body, sig string) {
		req := httptest.NewRequest(http.MethodPost, WebhookReceiverPath, strings.NewReader(body))
		req.Header.Set(HeaderWebhookSignature, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		isTest := strings.Contains(strings.ToLower(body), "test")
		// Anything accepted is either a registration test or carries the right signature.
		if rec.Code == http.StatusOK && !isTest && sig != sign("k", body) {
			d, _ := decodeSignature(sig)
			if !hmac.Equal(d, mustDecode(sign("k", body))) {
				t.Fatalf("accepted an unsigned delivery: body %q sig %q", body, sig)
			}
		}
	})
}

func mustDecode(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}
