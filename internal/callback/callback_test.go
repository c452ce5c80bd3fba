package callback

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

var installName = tenancyv1alpha1.InstallationName(testEnv, testTenant)

func TestInstallCodeFlowCreatesInstallationAndSecret(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	before := testutil.ToFloat64(h.srv.metrics.callbacks.WithLabelValues(testEnv, resultSuccess))
	c := h.browser()
	cb := h.install(c)
	if cb.location != "/installations/"+installName {
		t.Fatalf("redirect to %q, want the status page", cb.location)
	}
	tis := h.installations()
	if len(tis) != 1 {
		t.Fatalf("%d installations, want 1", len(tis))
	}
	ti := tis[0]
	webAPI, _ := h.id.TenantURLs(testTenant)
	if ti.Name != installName || ti.Namespace != testNS || ti.Spec.TenantID != testTenant || ti.Spec.Environment != testEnv ||
		ti.Spec.Endpoints.WebAPIURL != webAPI || ti.Spec.InstalledBy == nil || ti.Spec.InstalledBy.AssociateID != 7 ||
		ti.Spec.CredentialsSecretRef == nil || ti.Spec.CredentialsSecretRef.Name != installName+"-credentials" {
		t.Errorf("installation not as expected: %+v", ti.Spec)
	}
	if ti.Labels[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue || ti.Labels[tenancyv1alpha1.EnvironmentLabel] != testEnv {
		t.Errorf("labels: %v", ti.Labels)
	}
	sec := &corev1.Secret{}
	if err := h.kube.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: installName + "-credentials"}, sec); err != nil {
		t.Fatal(err)
	}
	if string(sec.Data[SecretKeySystemToken]) != h.id.SystemToken(testTenant) || len(sec.Data[SecretKeyRefreshToken]) == 0 {
		t.Errorf("secret data keys %v do not hold the tokens", keys(sec.Data))
	}
	if string(sec.Data[SecretKeySerial]) != "12345" {
		t.Errorf("secret does not hold the tenant serial that pins the system user audience: %q", sec.Data[SecretKeySerial])
	}
	if sec.Labels[tenancyv1alpha1.InstallationLabel] != testNS+"."+installName || sec.Labels[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue {
		t.Errorf("secret labels: %v", sec.Labels)
	}
	if len(ti.Spec.InstalledBy.UPN) == 0 || strings.Contains(mustJSON(t, ti), h.id.SystemToken(testTenant)) {
		t.Errorf("installation carries a token or lacks installedBy")
	}
	if got := testutil.ToFloat64(h.srv.metrics.callbacks.WithLabelValues(testEnv, resultSuccess)); got != before+1 {
		t.Errorf("success counter %v -> %v", before, got)
	}
	// The status page is reachable with the session the callback issued.
	page := h.get(c, cb.location)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Installation for "+testTenant) {
		t.Errorf("status page: %d %s", page.status, page.body)
	}
	if logs := h.logs.String(); strings.Contains(logs, h.id.SystemToken(testTenant)) || strings.Contains(logs, string(sec.Data[SecretKeyRefreshToken])) ||
		strings.Contains(logs, "eyJ") {
		t.Errorf("logs contain token material:\n%s", logs)
	}
}

func TestCookiesAndHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, err := h.browser().Get(h.ts.URL + "/install")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var flow *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == flowCookieName {
			flow = c
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Errorf("flow cookie: %+v", flow)
	}
	for _, hdr := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy", "Cache-Control"} {
		if resp.Header.Get(hdr) == "" {
			t.Errorf("header %s missing", hdr)
		}
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" ||
		q.Get("response_type") != "code" || q.Get("redirect_uri") != h.cfg.Environment.RedirectURL || q.Get("scope") != "openid" {
		t.Errorf("authorize query: %v", q)
	}
	// With an https public URL cookies are Secure.
	h.srv.secureCookies = true
	rec := &headerRecorder{h: http.Header{}}
	h.srv.setCookie(rec, "x", "y", "/", time.Minute)
	if !strings.Contains(rec.h.Get("Set-Cookie"), "Secure") {
		t.Errorf("cookie not Secure: %s", rec.h.Get("Set-Cookie"))
	}
}

type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(int)             {}

func TestRepeatedInstallUpdatesOneInstallation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.install(h.browser())
	webAPI2 := "http://moved.example/" + testTenant + "/api/"
	// A second consent, e.g. after the tenant moved: same name, updated endpoints.
	c := h.browser()
	q := h.authorizeParams(c, "/install")
	claims := h.id.IDTokenClaims(adminUser, q.Get("nonce"))
	claims[superofficesim.ClaimWebAPIURL] = webAPI2
	tok, err := h.id.MintIDToken(claims, superofficesim.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {q.Get("state")}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("form_post callback: %d %s", res.status, res.body)
	}
	tis := h.installations()
	if len(tis) != 1 {
		t.Fatalf("%d installations after two installs, want 1", len(tis))
	}
	if tis[0].Spec.Endpoints.WebAPIURL != webAPI2 {
		t.Errorf("endpoints not updated: %s", tis[0].Spec.Endpoints.WebAPIURL)
	}
	if n := len(h.secrets()); n != 1 {
		t.Errorf("%d secrets, want 1", n)
	}
	// The form_post answer has no refresh token; the stored one is kept.
	sec := h.secrets()[0]
	if len(sec.Data[SecretKeyRefreshToken]) == 0 || len(sec.Data[SecretKeySystemToken]) == 0 {
		t.Errorf("tokens lost on update: %v", keys(sec.Data))
	}
}

// TestCallbackRefusals: each bad callback answers the right status and
// creates nothing.
func TestCallbackRefusals(t *testing.T) {
	type tc struct {
		name   string
		run    func(h *harness) hop
		status int
		code   string
	}
	cases := []tc{
		{"replayed state (code flow)", func(h *harness) hop {
			c := h.browser()
			cbURL := h.authorize(c, "/install")
			first := h.get(c, cbURL)
			if first.status != http.StatusSeeOther {
				t.Fatalf("first callback: %d", first.status)
			}
			// Undo the first install so that "creates nothing" checks the replay.
			for _, ti := range h.installations() {
				_ = h.kube.Delete(context.Background(), &ti)
			}
			for _, s := range h.secrets() {
				_ = h.kube.Delete(context.Background(), &s)
			}
			return h.get(c, cbURL)
		}, http.StatusConflict, "replayed_state"},
		{"replayed state (form_post)", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install")
			claims := h.id.IDTokenClaims(adminUser, q.Get("nonce"))
			claims[superofficesim.ClaimCtx] = "not valid" // first use fails verification, still consumes the state
			tok, _ := h.id.MintIDToken(claims, superofficesim.MintOptions{})
			h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {q.Get("state")}})
			good, _ := h.id.MintIDToken(h.id.IDTokenClaims(adminUser, q.Get("nonce")), superofficesim.MintOptions{})
			return h.postForm(c, "/callback", url.Values{"id_token": {good}, "state": {q.Get("state")}})
		}, http.StatusConflict, "replayed_state"},
		{"expired state", func(h *harness) hop {
			c := h.browser()
			cbURL := h.authorize(c, "/install")
			h.clock.advance(StateLifetime + time.Second)
			return h.get(c, cbURL)
		}, http.StatusBadRequest, "expired_state"},
		{"forged state", func(h *harness) hop {
			c := h.browser()
			cbURL := h.authorize(c, "/install")
			u, _ := url.Parse(cbURL)
			q := u.Query()
			st := q.Get("state")
			q.Set("state", st[:len(st)-4]+"AAAA")
			u.RawQuery = q.Encode()
			return h.get(c, u.String())
		}, http.StatusBadRequest, "invalid_state"},
		{"state signed as another kind of value", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install")
			sealed, _ := h.srv.signer.seal("session", newState(purposeInstall, "", h.clock.now()))
			tok, _ := h.id.MintIDToken(h.id.IDTokenClaims(adminUser, q.Get("nonce")), superofficesim.MintOptions{})
			return h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {sealed}})
		}, http.StatusBadRequest, "invalid_state"},
		{"wrong tenant for state", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install?tenant="+otherTenant)
			if q.Get("acr_values") != "tenant:"+otherTenant {
				t.Errorf("acr_values = %q", q.Get("acr_values"))
			}
			tok, _ := h.id.MintIDToken(h.id.IDTokenClaims(adminUser, q.Get("nonce")), superofficesim.MintOptions{})
			return h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {q.Get("state")}})
		}, http.StatusForbidden, "wrong_tenant"},
		{"nonce mismatch (form_post)", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install")
			tok, _ := h.id.MintIDToken(h.id.IDTokenClaims(adminUser, "another-nonce"), superofficesim.MintOptions{})
			return h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {q.Get("state")}})
		}, http.StatusUnauthorized, "invalid_token"},
		{"token alg none (form_post)", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install")
			tok, _ := h.id.MintIDToken(h.id.IDTokenClaims(adminUser, q.Get("nonce")), superofficesim.MintOptions{Alg: "none"})
			return h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {q.Get("state")}})
		}, http.StatusUnauthorized, "invalid_token"},
		{"code from another browser (no flow cookie)", func(h *harness) hop {
			cbURL := h.authorize(h.browser(), "/install")
			return h.get(h.browser(), cbURL)
		}, http.StatusBadRequest, "missing_flow_cookie"},
		{"code forged", func(h *harness) hop {
			c := h.browser()
			cbURL := h.authorize(c, "/install")
			u, _ := url.Parse(cbURL)
			q := u.Query()
			q.Set("code", "forged")
			u.RawQuery = q.Encode()
			return h.get(c, u.String())
		}, http.StatusBadGateway, "upstream_error"},
		{"consent declined", func(h *harness) hop {
			c := h.browser()
			q := h.authorizeParams(c, "/install")
			return h.get(c, "/callback?error=access_denied&state="+url.QueryEscape(q.Get("state")))
		}, http.StatusForbidden, "access_denied"},
		{"GET without parameters", func(h *harness) hop { return h.get(h.browser(), "/callback") }, http.StatusBadRequest, "bad_request"},
		{"GET with code and id_token both", func(h *harness) hop {
			return h.get(h.browser(), "/callback?code=a&id_token=b&state=c")
		}, http.StatusBadRequest, "bad_request"},
		{"GET with repeated state", func(h *harness) hop {
			return h.get(h.browser(), "/callback?code=a&state=b&state=c")
		}, http.StatusBadRequest, "bad_request"},
		{"POST wrong content type", func(h *harness) hop {
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/callback", strings.NewReader(`{"id_token":"x","state":"y"}`))
			req.Header.Set("Content-Type", "application/json")
			return do(t, h.browser(), req)
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"POST without content type", func(h *harness) hop {
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/callback", strings.NewReader(`id_token=x&state=y`))
			return do(t, h.browser(), req)
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"POST oversized body", func(h *harness) hop {
			return h.postForm(h.browser(), "/callback", url.Values{"id_token": {strings.Repeat("a", MaxBodyBytes)}, "state": {"x"}})
		}, http.StatusRequestEntityTooLarge, "request_too_large"},
		{"PUT not allowed", func(h *harness) hop {
			req, _ := http.NewRequest(http.MethodPut, h.ts.URL+"/callback", nil)
			return do(t, h.browser(), req)
		}, http.StatusMethodNotAllowed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			res := c.run(h)
			if res.status != c.status {
				t.Fatalf("status %d, want %d; body %s", res.status, c.status, res.body)
			}
			if c.code != "" && !strings.Contains(res.body, "Error code: "+c.code) {
				t.Errorf("page lacks error code %s:\n%s", c.code, res.body)
			}
			if strings.Contains(res.body, "goroutine") || strings.Contains(res.body, "eyJ") {
				t.Errorf("answer leaks internals or a token:\n%s", res.body)
			}
			h.assertNothingCreated()
		})
	}
}

func TestJSONErrorsForPrograms(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	res := h.get(h.browser(), "/callback?code=a&state=forged", "Accept", "application/json")
	var p map[string]string
	if err := json.Unmarshal([]byte(res.body), &p); err != nil || res.status != http.StatusBadRequest || p["error"] != "invalid_state" || p["message"] == "" {
		t.Fatalf("want JSON invalid_state, got %d %s", res.status, res.body)
	}
}

func TestTenantCollisionNeverOverwrites(t *testing.T) {
	// An installation with the name of Cust12345 but another tenant id
	// (made by hand, or by a bug): a callback for Cust12345 must not take it over.
	squatter := &tenancyv1alpha1.TenantInstallation{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: installName},
		Spec:       tenancyv1alpha1.TenantInstallationSpec{TenantID: "Cust99999", Environment: testEnv},
	}
	h := newHarness(t, harnessOpts{objects: []client.Object{squatter}})
	c := h.browser()
	res := h.get(c, h.authorize(c, "/install"))
	if res.status != http.StatusConflict {
		t.Fatalf("status %d, want 409: %s", res.status, res.body)
	}
	tis := h.installations()
	if len(tis) != 1 || tis[0].Spec.TenantID != "Cust99999" || tis[0].Spec.CredentialsSecretRef != nil {
		t.Errorf("squatter changed: %+v", tis[0].Spec)
	}
	if len(h.secrets()) != 0 {
		t.Errorf("a secret was written")
	}
}

func TestForeignSecretNotTouched(t *testing.T) {
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: installName + "-credentials"},
		Data: map[string][]byte{"x": []byte("keep")}}
	h := newHarness(t, harnessOpts{objects: []client.Object{foreign}})
	c := h.browser()
	res := h.get(c, h.authorize(c, "/install"))
	if res.status != http.StatusConflict {
		t.Fatalf("status %d, want 409", res.status)
	}
	sec := h.secrets()[0]
	if string(sec.Data["x"]) != "keep" || len(sec.Data) != 1 {
		t.Errorf("foreign secret changed: %v", keys(sec.Data))
	}
}

func TestStatusPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.browser()
	h.install(c)
	ti := &tenancyv1alpha1.TenantInstallation{}
	key := client.ObjectKey{Namespace: testNS, Name: installName}
	if err := h.kube.Get(context.Background(), key, ti); err != nil {
		t.Fatal(err)
	}
	since := metav1.NewTime(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC))
	ti.Status = tenancyv1alpha1.TenantInstallationStatus{
		Phase: tenancyv1alpha1.PhaseThrottled,
		Provisioned: []tenancyv1alpha1.ProvisionedArtifact{
			{ID: "k8s/ns", Target: tenancyv1alpha1.TargetKubernetes, Kind: "Namespace", Name: "tenant-sim-cust12345", State: tenancyv1alpha1.ArtifactReady},
			{ID: "so/wp", Target: tenancyv1alpha1.TargetSuperOffice, Kind: "WebPanel", Name: "Orders", State: tenancyv1alpha1.ArtifactPending},
		},
		Conditions: []metav1.Condition{
			{Type: tenancyv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Throttled", Message: "1 of 2 artifacts ready", LastTransitionTime: since},
			{Type: tenancyv1alpha1.ConditionThrottled, Status: metav1.ConditionTrue, Reason: "Throttled", Message: "throttled: HTTP 429; retry after 2m0s", LastTransitionTime: since},
			{Type: tenancyv1alpha1.ConditionCredentialsValid, Status: metav1.ConditionFalse, Reason: "Revoked", Message: "consent revoked", LastTransitionTime: since},
		},
	}
	if err := h.kube.Update(context.Background(), ti); err != nil {
		t.Fatal(err)
	}
	page := h.get(c, "/installations/"+installName)
	for _, want := range []string{"Throttled", "tenant-sim-cust12345", "WebPanel", "Orders", "Pending",
		"continues by itself at about 10:02:00 UTC", "accept the consent again", "Slowed down at SuperOffice&#39;s request"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("status page lacks %q:\n%s", want, page.body)
		}
	}
	js := h.get(c, "/installations/"+installName, "Accept", "application/json")
	var v statusView
	if err := json.Unmarshal([]byte(js.body), &v); err != nil || js.status != http.StatusOK {
		t.Fatalf("JSON status: %d %s", js.status, js.body)
	}
	if len(v.Provisioned) != 2 || v.Provisioned[1].Name != "Orders" || v.ContinuesAt == nil || !v.ContinuesAt.Equal(since.Add(2*time.Minute)) || v.Phase != "Throttled" {
		t.Errorf("JSON view: %+v", v)
	}

	// Access rules: no session, another installation, an expired session.
	if res := h.get(h.browser(), "/installations/"+installName); res.status != http.StatusUnauthorized {
		t.Errorf("no session: %d", res.status)
	}
	if res := h.get(c, "/installations/sim-cust777"); res.status != http.StatusForbidden {
		t.Errorf("other installation: %d", res.status)
	}
	h.clock.advance(SessionLifetime + time.Second)
	if res := h.get(c, "/installations/"+installName); res.status != http.StatusUnauthorized {
		t.Errorf("expired session: %d", res.status)
	}
}

func TestUninstallThroughThePages(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.browser()
	h.install(c)

	confirmURL := h.get(c, h.authorize(c, "/uninstall"))
	if confirmURL.status != http.StatusSeeOther || confirmURL.location != "/installations/"+installName+"/uninstall" {
		t.Fatalf("uninstall sign-in: %d %q %s", confirmURL.status, confirmURL.location, confirmURL.body)
	}
	page := h.get(c, confirmURL.location)
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="csrf"`) {
		t.Fatalf("confirm page: %d %s", page.status, page.body)
	}
	csrf := between(page.body, `name="csrf" value="`, `"`)
	action := "/installations/" + installName + "/uninstall"

	// Refusals first: each leaves the installation in place.
	for name, res := range map[string]hop{
		"no csrf":      h.postForm(c, action, url.Values{}),
		"wrong csrf":   h.postForm(c, action, url.Values{"csrf": {"x" + csrf}}),
		"cross origin": h.postForm(c, action, url.Values{"csrf": {csrf}}, "Origin", "https://evil.example"),
		"no session":   h.postForm(h.browser(), action, url.Values{"csrf": {csrf}}),
	} {
		if res.status != http.StatusForbidden && res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, res.status)
		}
		if len(h.installations()) != 1 {
			t.Fatalf("%s removed the installation", name)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+action, strings.NewReader("csrf="+url.QueryEscape(csrf)))
	req.Header.Set("Content-Type", "application/json")
	if res := do(t, c, req); res.status != http.StatusUnsupportedMediaType {
		t.Errorf("JSON confirm: %d", res.status)
	}

	done := h.postForm(c, action, url.Values{"csrf": {csrf}}, "Origin", h.ts.URL)
	if done.status != http.StatusSeeOther || done.location != "/installations/"+installName {
		t.Fatalf("confirm: %d %q %s", done.status, done.location, done.body)
	}
	if n := len(h.installations()); n != 0 {
		t.Fatalf("%d installations after uninstall", n)
	}
	final := h.get(c, done.location)
	if final.status != http.StatusOK || !strings.Contains(final.body, "everything it created for your tenant has been removed") {
		t.Errorf("final page: %d %s", final.status, final.body)
	}
}

func TestUninstallNeedsAdministratorAndFreshSignIn(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.browser()
	h.install(c)
	// An installer's session is not an uninstall authorisation.
	if res := h.get(c, "/installations/"+installName+"/uninstall"); res.status != http.StatusForbidden {
		t.Errorf("confirm page without re-auth: %d", res.status)
	}
	user := adminUser
	user.IsAdministrator = false
	h.id.SetUser(user)
	res := h.get(c, h.authorize(c, "/uninstall"))
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "not_administrator") {
		t.Errorf("non-admin uninstall: %d %s", res.status, res.body)
	}
	// Re-auth as admin, then let the window pass.
	h.id.SetUser(adminUser)
	h.get(c, h.authorize(c, "/uninstall"))
	h.clock.advance(uninstallWindow + time.Second)
	if res := h.get(c, "/installations/"+installName+"/uninstall"); res.status != http.StatusForbidden {
		t.Errorf("stale re-auth accepted: %d", res.status)
	}
	if len(h.installations()) != 1 {
		t.Errorf("installation removed")
	}
}

func TestStateChange(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.install(h.browser())
	target := h.ts.URL + "/state-change"
	get := func() *tenancyv1alpha1.TenantInstallation {
		ti := &tenancyv1alpha1.TenantInstallation{}
		if err := h.kube.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: installName}, ti); err != nil {
			return nil
		}
		return ti
	}
	send := func(change int, tenant string) int {
		status, err := h.id.SendStateChange(target, change, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	if s := send(superofficesim.ChangeSuspend, testTenant); s != 200 || !get().Spec.Suspend {
		t.Errorf("suspend: %d %v", s, get().Spec.Suspend)
	}
	if s := send(superofficesim.ChangeResume, testTenant); s != 200 || get().Spec.Suspend {
		t.Errorf("resume: %d", s)
	}
	h.rest.MoveTenant(testTenant, "host9")
	if s := send(superofficesim.ChangeMove, testTenant); s != 200 || !strings.HasSuffix(get().Annotations[tenancyv1alpha1.ReconcileRequestAnnotation], "/Move") {
		t.Errorf("move: %d %v", s, get().Annotations)
	}
	if got, want := get().Spec.Endpoints.WebAPIURL, h.rest.TenantAPIURL(testTenant); got != want || !strings.Contains(got, "host9") {
		t.Errorf("endpoints after Move: %q, want %q", got, want)
	}
	if s := send(superofficesim.ChangeSuspend, otherTenant); s != 200 {
		t.Errorf("unknown tenant: %d", s)
	}

	// A token for one tenant does not work for another.
	tok, _ := h.id.StateChangeToken(otherTenant)
	body := `{"ChangeType":4,"ContextIdentifier":"` + testTenant + `","Token":"` + tok + `"}`
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if res := do(t, http.DefaultClient, req); res.status != http.StatusUnauthorized || get() == nil {
		t.Errorf("cross-tenant delete: %d", res.status)
	}
	for name, tc := range map[string]struct {
		ct, body string
		status   int
	}{
		"wrong content type": {"text/plain", `{}`, http.StatusUnsupportedMediaType},
		"not JSON":           {"application/json", `{`, http.StatusBadRequest},
		"unknown change":     {"application/json", `{"ChangeType":9,"ContextIdentifier":"Cust12345","Token":"x"}`, http.StatusBadRequest},
		"no token":           {"application/json", `{"ChangeType":4,"ContextIdentifier":"Cust12345"}`, http.StatusBadRequest},
		"forged token":       {"application/json", `{"ChangeType":"Delete","ContextIdentifier":"Cust12345","Token":"a.b.c"}`, http.StatusUnauthorized},
		"oversized":          {"application/json", `{"Token":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		res := do(t, http.DefaultClient, req)
		if res.status != tc.status || !strings.HasPrefix(res.body, "{") {
			t.Errorf("%s: %d %s", name, res.status, res.body)
		}
		if get() == nil {
			t.Fatalf("%s deleted the installation", name)
		}
	}
	if s := send(superofficesim.ChangeDelete, testTenant); s != 200 || get() != nil {
		t.Errorf("delete: %d, still there: %v", s, get() != nil)
	}
	if s := send(superofficesim.ChangeDelete, testTenant); s != 200 {
		t.Errorf("repeated delete: %d", s)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	h := newHarness(t, harnessOpts{burst: 3})
	c := h.browser()
	var statuses []int
	for range 5 {
		statuses = append(statuses, h.get(c, "/callback").status)
	}
	if statuses[0] != http.StatusBadRequest || statuses[4] != http.StatusTooManyRequests {
		t.Errorf("statuses %v: want 400 until the burst is spent, then 429", statuses)
	}
	if res := h.get(c, "/healthz"); res.status != http.StatusOK {
		t.Errorf("healthz limited: %d", res.status)
	}
}

func TestExtraHandlersMounted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	srv, err := New(Options{Config: h.cfg, Verifier: h.srv.opts.Verifier, Reader: h.kube, Writer: h.kube,
		ExtraHandlers: map[string]http.Handler{"POST /webhooks/superoffice": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		})}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.NeedLeaderElection() {
		t.Error("callback server must run on every replica")
	}
	rec := newRecorder()
	srv.Handler().ServeHTTP(rec, mustRequest(http.MethodPost, "/webhooks/superoffice", "{}"))
	if rec.status != http.StatusAccepted {
		t.Errorf("extra handler: %d", rec.status)
	}
}

func TestStartServesAndStops(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	srv, err := New(Options{Config: h.cfg, Verifier: h.srv.opts.Verifier, Reader: h.kube, Writer: h.kube, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return after cancel")
	}
	bad, _ := New(Options{Config: h.cfg, Verifier: h.srv.opts.Verifier, Reader: h.kube, Writer: h.kube, Addr: "256.0.0.1:1"})
	if err := bad.Start(context.Background()); err == nil {
		t.Error("listen on an impossible address succeeded")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

type recorder struct {
	h      http.Header
	status int
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}, status: 200} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }

func mustRequest(method, path, body string) *http.Request {
	req, _ := http.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1234"
	return req
}

func TestUninstallByAnotherTenantsAdministrator(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.browser()
	h.install(c)
	// The browser's session names Cust12345; an administrator of Cust777
	// signs in for the uninstall.
	other := adminUser
	other.Tenant = otherTenant
	h.id.SetUser(other)
	first := h.get(c, "/uninstall")
	u, _ := url.Parse(first.location)
	if u.Query().Get("acr_values") != "tenant:"+testTenant {
		t.Fatalf("uninstall sign-in not pinned to the session's tenant: %s", first.location)
	}
	// The simulator honours acr_values, so forge the other tenant's answer
	// with the state that was pinned to Cust12345.
	tok, _ := h.id.MintIDToken(h.id.IDTokenClaims(other, u.Query().Get("nonce")), superofficesim.MintOptions{})
	res := h.postForm(c, "/callback", url.Values{"id_token": {tok}, "state": {u.Query().Get("state")}})
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "wrong_tenant") {
		t.Errorf("other tenant's admin: %d %s", res.status, res.body)
	}
	if res := h.get(c, "/installations/"+installName+"/uninstall"); res.status != http.StatusForbidden {
		t.Errorf("confirm page reachable: %d", res.status)
	}
	if len(h.installations()) != 1 {
		t.Errorf("installation removed")
	}
}

func TestClientIP(t *testing.T) {
	ingress := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00::/64")}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies configured: the peer", "10.244.1.5:4000", []string{"203.0.113.9"}, nil, "10.244.1.5"},
		{"untrusted peer: its header is ignored", "198.51.100.7:4000", []string{"203.0.113.9"}, ingress, "198.51.100.7"},
		{"trusted peer: the client it names", "10.244.1.5:4000", []string{"203.0.113.9"}, ingress, "203.0.113.9"},
		{"a forged entry left of the real client is not believed", "10.244.1.5:4000", []string{"1.2.3.4, 203.0.113.9"}, ingress, "203.0.113.9"},
		{"chained trusted proxies are skipped", "10.244.1.5:4000", []string{"203.0.113.9, 10.244.2.2"}, ingress, "203.0.113.9"},
		{"several headers read as one list", "10.244.1.5:4000", []string{"1.2.3.4", "203.0.113.9"}, ingress, "203.0.113.9"},
		{"garbled entry: stop at the last trusted hop", "10.244.1.5:4000", []string{"203.0.113.9, not-an-ip"}, ingress, "10.244.1.5"},
		{"only proxies: the farthest proxy", "10.244.1.5:4000", []string{"10.244.3.3"}, ingress, "10.244.3.3"},
		{"no header from a proxy: the proxy", "10.244.1.5:4000", nil, ingress, "10.244.1.5"},
		{"IPv6 proxy, IPv4-mapped client", "[fd00::1]:4000", []string{"::ffff:203.0.113.9"}, ingress, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/callback", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := clientIP(r, tc.trusted); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

// Behind a trusted ingress each client spends its own burst; a client that
// forges X-Forwarded-For still lands in its own bucket.
func TestRateLimitPerClientBehindTrustedProxy(t *testing.T) {
	h := newHarness(t, harnessOpts{burst: 2, trustedProxies: []string{"127.0.0.0/8", "::1/128"}})
	c := h.browser()
	call := func(xff string) int { return h.get(c, "/callback", "X-Forwarded-For", xff).status }
	for range 2 {
		if s := call("203.0.113.1"); s == http.StatusTooManyRequests {
			t.Fatalf("first client limited within its burst")
		}
	}
	if s := call("203.0.113.1"); s != http.StatusTooManyRequests {
		t.Fatalf("first client past its burst: %d, want 429", s)
	}
	if s := call("203.0.113.2"); s == http.StatusTooManyRequests {
		t.Fatalf("second client limited by the first one's requests")
	}
	if s := call("9.9.9.9, 203.0.113.1"); s != http.StatusTooManyRequests {
		t.Fatalf("a forged entry moved the first client to a fresh bucket: %d", s)
	}
}
