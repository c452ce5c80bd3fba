package superofficesim

// The tenant REST side of the simulator.
//
// Where things live (relative to the simulator's base URL):
//
//	/{ctx}/api/...                      a tenant's webapi_url (what the identity side hands out)
//	/hosts/{host}/{ctx}/api/...         the tenant after MoveTenant(ctx, host); the old
//	                                    address then answers 421, like a wrong numbered host
//	/api/state/{ctx}                    the tenant state API (names the current address)
//	/Login/api/PartnerSystemUser/Authenticate   the system user exchange
//
// Artifact endpoints under a tenant's api/ follow shared/superoffice.md;
// v1/{Entity}/UdefLayout/Published (the published layout) and
// v1/Agents/List/GetTaskMenu (null when absent) are assumptions beyond it;
// entity field names follow SuperOffice's REST entities where known
// (WebPanelEntity, TaskMenu, UdefField, Webhook) and are an assumption
// elsewhere. Every request to a tenant is recorded, so tests can ask for
// counts, the highest rate in any one-second window and every object left.

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SystemUserTicketClaim is the claim of the system user JWT that carries the ticket.
const SystemUserTicketClaim = ClaimPrefix + "ticket"

// FaultKind is a failure the simulator can inject into a tenant's REST calls.
type FaultKind string

// Faults.
const (
	// FaultTooManyRequests answers 429 with Fault.RetryAfter.
	FaultTooManyRequests FaultKind = "429"
	// FaultUnavailable answers 503 with Fault.RetryAfter (may be empty).
	FaultUnavailable FaultKind = "503"
	// FaultInternal answers 500.
	FaultInternal FaultKind = "500"
	// FaultDrop closes the connection without an answer, before doing anything.
	FaultDrop FaultKind = "drop"
	// FaultFailAfterCreate performs a create and then answers 500, as if the
	// answer was lost; it only affects requests that create something.
	FaultFailAfterCreate FaultKind = "fail-after-create"
)

// Fault is one injected failure.
type Fault struct {
	Kind FaultKind
	// Times is how many requests it affects; 0 means every request until cleared.
	Times int
	// RetryAfter is the Retry-After header for 429/503 (seconds or an HTTP date).
	RetryAfter string
	// Method and PathContains, when set, restrict the fault to matching requests.
	Method       string
	PathContains string
}

// Object is one artifact inside a tenant, as tests see it.
type Object struct {
	// Kind: WebPanel, TaskMenu, UdefField, Preference, Webhook.
	Kind string
	// ID is the simulator's id (ProgId for UDFs, section/key/level for preferences).
	ID   string
	Name string
	// Deleted is true for a web panel that was only soft-deleted, and for a
	// UDF removed from the working layout but still published.
	Deleted bool
	// Published is true for a UDF present in the published layout.
	Published bool
	// Owner is the app (client id) that made it, where SuperOffice tracks that.
	Owner  string
	Fields map[string]string
}

// RequestStats are what a tenant's REST API saw.
type RequestStats struct {
	// REST counts requests to the tenant's api/ (including refused ones).
	REST int
	// Exchanges counts PartnerSystemUser calls for the tenant.
	Exchanges int
	// StateReads counts tenant state API calls.
	StateReads int
	// MaxPerSecond is the most REST requests in any one-second window.
	MaxPerSecond int
	// Log lists "METHOD path" of every REST request, in order.
	Log []string
}

// REST is the simulator's tenant REST side.
type REST struct {
	sim *Simulator

	mu           sync.Mutex
	tenants      map[string]*restTenant
	tickets      map[string]string // ticket -> ctx
	nextID       int
	systemTokens func(ctx string) string
	webhookPing  bool
	client       *http.Client
}

type restTenant struct {
	moved   bool
	host    string
	revoked bool
	latency time.Duration
	faults  []*Fault

	arrivals   []time.Time
	log        []string
	exchanges  int
	stateReads int

	webPanels map[int]*restWebPanel
	taskMenus map[int]*restTaskMenu
	working   map[string][]*restUdef // entity -> working layout
	published map[string][]*restUdef
	prefs     map[string]*restPref // section\x00key\x00level
	webhooks  map[int]*restWebhook
}

type restWebPanel struct {
	WebPanelId  int    `json:"WebPanelId"`
	Name        string `json:"Name"`
	Description string `json:"Description"`
	Url         string `json:"Url"`
	VisibleIn   string `json:"VisibleIn"`
	Deleted     bool   `json:"Deleted"`
	OnCentral   bool   `json:"OnCentral"`
	ProgId      string `json:"ProgId"`
	owner       string
}

type restTaskMenu struct {
	TaskMenuId int    `json:"TaskMenuId"`
	Name       string `json:"Name"`
	Location   string `json:"Location"`
	Url        string `json:"Url"`
	ProgId     string `json:"ProgId"`
	Deleted    bool   `json:"Deleted"`
	owner      string
}

type restUdef struct {
	UDefFieldId int    `json:"UDefFieldId"`
	ProgId      string `json:"ProgId"`
	FieldLabel  string `json:"FieldLabel"`
	FieldType   string `json:"FieldType"`
	ColumnId    int    `json:"ColumnId"`
}

type restPref struct {
	Section string `json:"Section"`
	Key     string `json:"Key"`
	Level   string `json:"Level"`
	Value   string `json:"Value"`
}

type restWebhook struct {
	WebhookId int               `json:"WebhookId"`
	Name      string            `json:"Name"`
	Events    []string          `json:"Events"`
	TargetUrl string            `json:"TargetUrl"`
	Secret    string            `json:"Secret,omitempty"`
	State     string            `json:"State"`
	Type      string            `json:"Type"`
	Headers   map[string]string `json:"Headers,omitempty"`
	owner     string
}

// RegisterREST registers the tenant REST routes, the system user exchange
// and the state API on the simulator's mux. Call it once per simulator.
func (s *Simulator) RegisterREST() *REST {
	r := &REST{sim: s, tenants: map[string]*restTenant{}, tickets: map[string]string{}, nextID: 100,
		client: &http.Client{Timeout: 5 * time.Second}}
	m := s.Mux()
	m.HandleFunc("POST /Login/api/PartnerSystemUser/Authenticate", r.authenticate)
	m.HandleFunc("GET /api/state/{ctx}", r.state)
	// One catch-all, parsed by hand: two wildcard patterns for the home and
	// the moved address would overlap in net/http's eyes.
	m.HandleFunc("/{first}/{rest...}", r.tenantAPI)
	return r
}

// SetSystemTokens makes the exchange accept only the token f returns for a
// tenant (wire it to Identity.SystemToken); without it any token of a known
// tenant signed by the app's key is accepted.
func (r *REST) SetSystemTokens(f func(ctx string) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.systemTokens = f
}

// SetWebhookPing makes webhook registration POST a test event to the target
// and refuse the webhook unless it answers 200, as SuperOffice does.
func (r *REST) SetWebhookPing(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.webhookPing = on
}

// tenant returns the state of a known tenant (caller holds r.mu).
func (r *REST) tenant(ctx string) *restTenant {
	t, ok := r.tenants[ctx]
	if !ok {
		t = &restTenant{webPanels: map[int]*restWebPanel{}, taskMenus: map[int]*restTaskMenu{},
			working: map[string][]*restUdef{}, published: map[string][]*restUdef{},
			prefs: map[string]*restPref{}, webhooks: map[int]*restWebhook{}}
		r.tenants[ctx] = t
	}
	return t
}

func (r *REST) id() int { r.nextID++; return r.nextID }

// TenantAPIURL is where the tenant's REST API is now (its webapi_url).
func (r *REST) TenantAPIURL(ctx string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.apiURL(ctx)
}

func (r *REST) apiURL(ctx string) string {
	base := r.sim.BaseURL()
	if t, ok := r.tenants[ctx]; ok && t.moved {
		return base + "/hosts/" + t.host + "/" + ctx + "/api/"
	}
	return base + "/" + ctx + "/api/"
}

// MoveTenant moves the tenant to another host: its old address answers 421
// from now on, and the state API names the new one.
func (r *REST) MoveTenant(ctx, host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	t.moved, t.host = true, host
}

// RevokeConsent revokes (or restores) the app's access: exchanges are
// refused and existing tickets answer 401.
func (r *REST) RevokeConsent(ctx string, revoked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tenant(ctx).revoked = revoked
	if revoked {
		for tk, c := range r.tickets {
			if c == ctx {
				delete(r.tickets, tk)
			}
		}
	}
}

// SetLatency delays every REST answer of the tenant by d.
func (r *REST) SetLatency(ctx string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tenant(ctx).latency = d
}

// InjectFault adds a fault to the tenant's REST calls; faults apply in the order added.
func (r *REST) InjectFault(ctx string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := f
	r.tenant(ctx).faults = append(r.tenant(ctx).faults, &cp)
}

// ClearFaults removes every fault and the latency of a tenant.
func (r *REST) ClearFaults(ctx string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	t.faults, t.latency = nil, 0
}

// Stats returns what the tenant's REST API saw.
func (r *REST) Stats(ctx string) RequestStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	return RequestStats{REST: len(t.arrivals), Exchanges: t.exchanges, StateReads: t.stateReads,
		MaxPerSecond: maxInWindow(t.arrivals, time.Second), Log: slices.Clone(t.log)}
}

// ResetStats forgets the tenant's recorded requests (objects stay).
func (r *REST) ResetStats(ctx string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	t.arrivals, t.log, t.exchanges, t.stateReads = nil, nil, 0, 0
}

// maxInWindow is the largest number of times within any window of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range s {
		for s[hi].Sub(s[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// Objects lists every artifact of a tenant, sorted by kind and id.
func (r *REST) Objects(ctx string) []Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	var out []Object
	for _, p := range t.webPanels {
		out = append(out, Object{Kind: "WebPanel", ID: strconv.Itoa(p.WebPanelId), Name: p.Name, Deleted: p.Deleted, Owner: p.owner,
			Fields: map[string]string{"Description": p.Description, "Url": p.Url, "VisibleIn": p.VisibleIn}})
	}
	for _, m := range t.taskMenus {
		out = append(out, Object{Kind: "TaskMenu", ID: strconv.Itoa(m.TaskMenuId), Name: m.Name, Deleted: m.Deleted, Owner: m.owner,
			Fields: map[string]string{"Location": m.Location, "Url": m.Url}})
	}
	udefs := map[string]*Object{}
	for ent, fields := range t.working {
		for _, f := range fields {
			udefs[ent+"/"+f.ProgId] = &Object{Kind: "UdefField", ID: f.ProgId, Name: f.FieldLabel,
				Fields: map[string]string{"Entity": ent, "FieldType": f.FieldType, "UDefFieldId": strconv.Itoa(f.UDefFieldId)}}
		}
	}
	for ent, fields := range t.published {
		for _, f := range fields {
			o, ok := udefs[ent+"/"+f.ProgId]
			if !ok {
				o = &Object{Kind: "UdefField", ID: f.ProgId, Name: f.FieldLabel, Deleted: true,
					Fields: map[string]string{"Entity": ent, "FieldType": f.FieldType}}
				udefs[ent+"/"+f.ProgId] = o
			}
			o.Published = o.Deleted || (o.Name == f.FieldLabel && o.Fields["FieldType"] == f.FieldType)
		}
	}
	for _, o := range udefs {
		out = append(out, *o)
	}
	for _, p := range t.prefs {
		out = append(out, Object{Kind: "Preference", ID: p.Section + "/" + p.Key + "/" + p.Level, Name: p.Key,
			Fields: map[string]string{"Section": p.Section, "Level": p.Level, "Value": p.Value}})
	}
	for _, h := range t.webhooks {
		out = append(out, Object{Kind: "Webhook", ID: strconv.Itoa(h.WebhookId), Name: h.Name, Owner: h.owner,
			Fields: map[string]string{"TargetUrl": h.TargetUrl, "Events": strings.Join(h.Events, ","), "State": h.State}})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// WebhookSecret returns the secret SuperOffice holds for a webhook, for tests
// of signature checking.
func (r *REST) WebhookSecret(ctx string, id int) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.tenant(ctx).webhooks[id]
	if !ok {
		return "", false
	}
	return h.Secret, true
}

// DeliverWebhook POSTs an event for a webhook to its target, signed as
// SuperOffice signs it, and returns the target's status code.
func (r *REST) DeliverWebhook(ctx string, id int, event string, primaryKey int) (int, error) {
	r.mu.Lock()
	h, ok := r.tenant(ctx).webhooks[id]
	var hook restWebhook
	if ok {
		hook = *h
	}
	r.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("no webhook %d in tenant %s", id, ctx)
	}
	body, err := json.Marshal(map[string]any{
		"EventId": fmt.Sprintf("evt-%d", time.Now().UnixNano()), "Timestamp": time.Now().UTC().Format(time.RFC3339),
		"Changes": []string{}, "Event": event, "PrimaryKey": primaryKey, "Entity": strings.SplitN(event, ".", 2)[0],
		"ContextIdentifier": ctx, "ChangedByAssociateId": 5, "WebhookName": hook.Name,
	})
	if err != nil {
		return 0, err
	}
	return r.post(hook.TargetUrl, hook.Secret, event, body)
}

func (r *REST) post(target, secret, event string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-SuperOffice-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-SuperOffice-Event", event)
	req.Header.Set("X-SuperOffice-EventId", fmt.Sprintf("evt-%d", time.Now().UnixNano()))
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// ---- system user exchange and state API ----

func (r *REST) authenticate(w http.ResponseWriter, req *http.Request) {
	var in struct {
		SignedSystemToken string
		ApplicationToken  string
		ContextIdentifier string
		ReturnTokenType   string
	}
	if err := json.NewDecoder(io.LimitReader(req.Body, 64<<10)).Decode(&in); err != nil {
		restJSON(w, http.StatusBadRequest, map[string]any{"IsSuccessful": false, "ErrorMessage": "malformed request"})
		return
	}
	refuse := func(msg string) {
		restJSON(w, http.StatusOK, map[string]any{"IsSuccessful": false, "Token": nil, "ErrorMessage": msg})
	}
	opts := r.sim.Options()
	ten, known := r.sim.Tenant(in.ContextIdentifier)
	r.mu.Lock()
	if known {
		r.tenant(in.ContextIdentifier).exchanges++
	}
	revoked := known && r.tenant(in.ContextIdentifier).revoked
	want := r.systemTokens
	r.mu.Unlock()
	switch {
	case in.ApplicationToken == "" || in.ApplicationToken != opts.ClientSecret:
		refuse("Invalid application token")
		return
	case !known:
		refuse("Unknown context identifier")
		return
	case revoked:
		refuse("The application's access to this tenant was revoked")
		return
	}
	token, err := verifySignedSystemToken(in.SignedSystemToken, opts.AppPublicKey, time.Now())
	if err != nil {
		refuse("Invalid signed system token: " + err.Error())
		return
	}
	if want != nil && token != want(in.ContextIdentifier) {
		refuse("Unknown system token for this tenant")
		return
	}
	ticket := "7T:" + identityRandom(24)
	r.mu.Lock()
	r.tickets[ticket] = in.ContextIdentifier
	r.mu.Unlock()
	key := r.sim.SigningKey()
	now := time.Now()
	jt := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "SuperOffice AS", "aud": "spn:" + ten.Serial, "iat": now.Unix(), "nbf": now.Unix() - 60,
		"exp": now.Add(time.Hour).Unix(), SystemUserTicketClaim: ticket, ClaimCtx: in.ContextIdentifier,
	})
	jt.Header["kid"] = key.ID
	signed, err := jt.SignedString(key.Private)
	if err != nil {
		restJSON(w, http.StatusInternalServerError, map[string]any{"IsSuccessful": false, "ErrorMessage": "signing failed"})
		return
	}
	restJSON(w, http.StatusOK, map[string]any{"IsSuccessful": true, "Token": signed, "ErrorMessage": ""})
}

// verifySignedSystemToken checks token.yyyyMMddHHmm.base64(sig) and returns the token.
func verifySignedSystemToken(signed string, pub *rsa.PublicKey, now time.Time) (string, error) {
	if pub == nil {
		return "", errors.New("the simulator has no app public key")
	}
	i := strings.LastIndex(signed, ".")
	if i < 0 {
		return "", errors.New("no signature")
	}
	payload, sig64 := signed[:i], signed[i+1:]
	j := strings.LastIndex(payload, ".")
	if j < 0 {
		return "", errors.New("no timestamp")
	}
	token, stamp := payload[:j], payload[j+1:]
	ts, err := time.Parse("200601021504", stamp)
	if err != nil || len(stamp) != 12 {
		return "", errors.New("timestamp is not yyyyMMddHHmm")
	}
	if d := now.UTC().Sub(ts); d > 10*time.Minute || d < -10*time.Minute {
		return "", errors.New("timestamp too far from now")
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return "", errors.New("signature is not base64")
	}
	sum := sha256.Sum256([]byte(payload))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return "", errors.New("signature does not verify")
	}
	return token, nil
}

func (r *REST) state(w http.ResponseWriter, req *http.Request) {
	ctx := req.PathValue("ctx")
	if _, ok := r.sim.Tenant(ctx); !ok {
		http.Error(w, "unknown tenant", http.StatusNotFound)
		return
	}
	r.mu.Lock()
	t := r.tenant(ctx)
	t.stateReads++
	api := r.apiURL(ctx)
	r.mu.Unlock()
	restJSON(w, http.StatusOK, map[string]any{
		"ContextIdentifier": ctx, "Endpoint": strings.TrimSuffix(api, "/api/"), "State": "Running", "IsRunning": true,
		"ValidUntil": time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339), "Api": api,
	})
}

// ---- tenant REST ----

func (r *REST) tenantAPI(w http.ResponseWriter, req *http.Request) {
	segs := strings.Split(strings.TrimPrefix(req.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		segs[i] = u
	}
	var host, ctx string
	var rest []string
	switch {
	case len(segs) >= 4 && segs[0] == "hosts" && segs[3] == "api":
		host, ctx, rest = segs[1], segs[2], segs[4:]
	case len(segs) >= 2 && segs[1] == "api":
		ctx, rest = segs[0], segs[2:]
	default:
		http.NotFound(w, req)
		return
	}
	if _, ok := r.sim.Tenant(ctx); !ok {
		http.Error(w, "unknown tenant", http.StatusNotFound)
		return
	}
	r.mu.Lock()
	t := r.tenant(ctx)
	t.arrivals = append(t.arrivals, time.Now())
	t.log = append(t.log, req.Method+" "+strings.Join(rest, "/"))
	latency := t.latency
	r.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	r.mu.Lock()
	wrongHost := (t.moved && host != t.host) || (!t.moved && host != "")
	r.mu.Unlock()
	if wrongHost {
		http.Error(w, "Misdirected request: the tenant is not on this host", http.StatusMisdirectedRequest)
		return
	}
	appID, ok := r.authorise(ctx, req)
	if !ok {
		http.Error(w, "ticket not valid for this tenant", http.StatusUnauthorized)
		return
	}
	path := strings.Join(rest, "/")
	fault := r.takeFault(t, req.Method, path, false)
	if fault != nil {
		switch fault.Kind {
		case FaultDrop:
			restDrop(w)
			return
		case FaultTooManyRequests, FaultUnavailable, FaultInternal:
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			code, _ := strconv.Atoi(string(fault.Kind))
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	rec := httptest.NewRecorder()
	created := r.route(rec, req.Method, rest, req.URL.Query(), body, ctx, appID)
	if created && r.takeFault(t, req.Method, path, true) != nil {
		http.Error(w, "internal error after the create", http.StatusInternalServerError)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// authorise checks the ticket and the app token; it returns the app's id.
func (r *REST) authorise(ctx string, req *http.Request) (string, bool) {
	opts := r.sim.Options()
	if req.Header.Get("SO-AppToken") != opts.ClientSecret || opts.ClientSecret == "" {
		return "", false
	}
	tk, ok := strings.CutPrefix(req.Header.Get("Authorization"), "SOTicket ")
	if !ok {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tickets[tk] != ctx || r.tenant(ctx).revoked {
		return "", false
	}
	return opts.ClientID, true
}

// takeFault consumes the first matching fault; afterCreate picks
// fail-after-create faults, otherwise they are skipped.
func (r *REST) takeFault(t *restTenant, method, path string, afterCreate bool) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range t.faults {
		if (f.Kind == FaultFailAfterCreate) != afterCreate {
			continue
		}
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.PathContains != "" && !strings.Contains(path, f.PathContains) {
			continue
		}
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				t.faults = slices.Delete(t.faults, i, i+1)
			}
		}
		return &cp
	}
	return nil
}

func restDrop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func restJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var udefEntities = map[string]bool{"Contact": true, "Person": true, "Project": true, "Sale": true, "Appointment": true, "Document": true}

// route serves one tenant request; it reports whether something was created.
func (r *REST) route(w http.ResponseWriter, method string, p []string, q url.Values, body []byte, ctx, app string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenant(ctx)
	if len(p) < 2 || p[0] != "v1" {
		http.NotFound(w, nil)
		return false
	}
	p = p[1:]
	is := func(m string, parts ...string) bool { return method == m && slices.Equal(p, parts) }
	bad := func(msg string) { http.Error(w, msg, http.StatusBadRequest) }
	notFound := func() { http.Error(w, "not found", http.StatusNotFound) }

	switch {
	// Web panels.
	case is("GET", "List", "WebPanel", "Items"):
		out := []restWebPanel{}
		for _, wp := range sortedValues(t.webPanels) {
			out = append(out, *wp)
		}
		restJSON(w, 200, out)
	case is("POST", "List", "WebPanel", "Items"):
		var in restWebPanel
		if json.Unmarshal(body, &in) != nil || in.Name == "" {
			bad("a web panel needs a Name")
			return false
		}
		in.WebPanelId, in.owner, in.Deleted = r.id(), app, false
		t.webPanels[in.WebPanelId] = &in
		restJSON(w, 200, in)
		return true
	case len(p) == 4 && p[0] == "List" && p[1] == "WebPanel" && p[2] == "Items":
		id, _ := strconv.Atoi(p[3])
		wp, ok := t.webPanels[id]
		if !ok {
			notFound()
			return false
		}
		switch method {
		case "GET":
			restJSON(w, 200, wp)
		case "PUT":
			var in restWebPanel
			if json.Unmarshal(body, &in) != nil || in.Name == "" {
				bad("a web panel needs a Name")
				return false
			}
			in.WebPanelId, in.owner = id, wp.owner
			t.webPanels[id] = &in
			restJSON(w, 200, in)
		case "DELETE":
			// SuperOffice only marks a panel deleted here; the agent below removes it.
			wp.Deleted = true
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	case is("POST", "Agents", "List", "DeleteWebPanel"):
		var in struct{ WebPanelId int }
		if json.Unmarshal(body, &in) != nil {
			bad("WebPanelId expected")
			return false
		}
		delete(t.webPanels, in.WebPanelId)
		w.WriteHeader(http.StatusNoContent)
	case is("POST", "Agents", "List", "GetAppWebPanels"):
		out := []restWebPanel{}
		for _, wp := range sortedValues(t.webPanels) {
			if wp.owner == app {
				out = append(out, *wp)
			}
		}
		restJSON(w, 200, out)
	case is("POST", "Agents", "List", "DeleteAppWebPanels"):
		for id, wp := range t.webPanels {
			if wp.owner == app {
				delete(t.webPanels, id)
			}
		}
		w.WriteHeader(http.StatusNoContent)

	// Task menus (buttons).
	case is("POST", "Agents", "List", "CreateDefaultTaskMenu"):
		restJSON(w, 200, restTaskMenu{})
	case is("POST", "Agents", "List", "SaveTaskMenu"):
		var in struct{ TaskMenu restTaskMenu }
		if json.Unmarshal(body, &in) != nil || in.TaskMenu.Name == "" {
			bad("a task menu needs a Name")
			return false
		}
		m := in.TaskMenu
		if m.TaskMenuId == 0 {
			m.TaskMenuId, m.owner = r.id(), app
			t.taskMenus[m.TaskMenuId] = &m
			restJSON(w, 200, m)
			return true
		}
		old, ok := t.taskMenus[m.TaskMenuId]
		if !ok {
			notFound()
			return false
		}
		m.owner = old.owner
		t.taskMenus[m.TaskMenuId] = &m
		restJSON(w, 200, m)
	case is("POST", "Agents", "List", "GetAppTaskMenus"):
		out := []restTaskMenu{}
		for _, m := range sortedValues(t.taskMenus) {
			if m.owner == app {
				out = append(out, *m)
			}
		}
		restJSON(w, 200, out)
	case is("POST", "Agents", "List", "GetTaskMenu"):
		var in struct{ TaskMenuId int }
		_ = json.Unmarshal(body, &in)
		if m, ok := t.taskMenus[in.TaskMenuId]; ok {
			restJSON(w, 200, m)
		} else {
			restJSON(w, 200, nil)
		}
	case is("POST", "Agents", "List", "DeleteTaskMenu"):
		var in struct{ TaskMenuId int }
		if json.Unmarshal(body, &in) != nil {
			bad("TaskMenuId expected")
			return false
		}
		delete(t.taskMenus, in.TaskMenuId)
		w.WriteHeader(http.StatusNoContent)
	case is("POST", "Agents", "List", "DeleteAppTaskMenus"):
		for id, m := range t.taskMenus {
			if m.owner == app {
				delete(t.taskMenus, id)
			}
		}
		w.WriteHeader(http.StatusNoContent)

	// User-defined fields.
	case len(p) >= 2 && udefEntities[p[0]] && p[1] == "UdefLayout":
		return r.udef(w, t, method, p[0], p[2:], q, body)
	case is("POST", "Agents", "Configuration", "RebuildUdefDeltas"):
		w.WriteHeader(http.StatusNoContent)

	// Preferences.
	case len(p) >= 3 && len(p) <= 4 && p[0] == "Preference":
		level := "Database"
		if len(p) == 4 {
			level = p[3]
		}
		k := p[1] + "\x00" + p[2] + "\x00" + level
		switch method {
		case "GET":
			pr, ok := t.prefs[k]
			if !ok {
				notFound()
				return false
			}
			restJSON(w, 200, pr)
		case "PUT", "POST":
			if !q.Has("value") {
				bad("value query parameter expected")
				return false
			}
			_, existed := t.prefs[k]
			pr := &restPref{Section: p[1], Key: p[2], Level: level, Value: q.Get("value")}
			t.prefs[k] = pr
			restJSON(w, 200, pr)
			return !existed
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	case is("POST", "Agents", "Preference", "DeletePreference"):
		var in struct{ Section, Key, Level string }
		if json.Unmarshal(body, &in) != nil || in.Section == "" || in.Key == "" {
			bad("Section and Key expected")
			return false
		}
		if in.Level == "" {
			in.Level = "Database"
		}
		delete(t.prefs, in.Section+"\x00"+in.Key+"\x00"+in.Level)
		w.WriteHeader(http.StatusNoContent)
	case is("POST", "Agents", "Preference", "DeleteFromSectionAndKey"):
		var in struct{ Section, Key string }
		if json.Unmarshal(body, &in) != nil || in.Section == "" || in.Key == "" {
			bad("Section and Key expected")
			return false
		}
		for k, pr := range t.prefs {
			if pr.Section == in.Section && pr.Key == in.Key {
				delete(t.prefs, k)
			}
		}
		w.WriteHeader(http.StatusNoContent)

	// Webhooks.
	case is("GET", "Webhook"):
		out := []restWebhook{}
		for _, h := range sortedValues(t.webhooks) {
			if h.owner == app && (q.Get("name") == "" || q.Get("name") == h.Name) {
				cp := *h
				cp.Secret = "" // write-only
				out = append(out, cp)
			}
		}
		restJSON(w, 200, out)
	case is("POST", "Webhook"):
		var in restWebhook
		if json.Unmarshal(body, &in) != nil || in.Name == "" || in.TargetUrl == "" || len(in.Events) == 0 {
			bad("a webhook needs Name, TargetUrl and Events")
			return false
		}
		if r.webhookPing {
			// Registration test: SuperOffice refuses a target that does not answer 200.
			ping, _ := json.Marshal(map[string]any{"Event": "test", "ContextIdentifier": ctx, "WebhookName": in.Name})
			r.mu.Unlock()
			code, err := r.post(in.TargetUrl, in.Secret, "test", ping)
			r.mu.Lock()
			if err != nil || code != http.StatusOK {
				bad(fmt.Sprintf("the webhook target did not answer the test with 200 (got %d)", code))
				return false
			}
		}
		in.WebhookId, in.owner = r.id(), app
		if in.State == "" {
			in.State = "Active"
		}
		if in.Type == "" {
			in.Type = "webhook"
		}
		t.webhooks[in.WebhookId] = &in
		out := in
		out.Secret = ""
		restJSON(w, 201, out)
		return true
	case len(p) == 2 && p[0] == "Webhook":
		id, _ := strconv.Atoi(p[1])
		h, ok := t.webhooks[id]
		if !ok {
			notFound()
			return false
		}
		switch method {
		case "GET":
			cp := *h
			cp.Secret = ""
			restJSON(w, 200, cp)
		case "PUT", "PATCH":
			var in restWebhook
			if json.Unmarshal(body, &in) != nil {
				bad("a webhook expected")
				return false
			}
			if method == "PUT" && (in.Name == "" || in.TargetUrl == "" || len(in.Events) == 0) {
				bad("a webhook needs Name, TargetUrl and Events")
				return false
			}
			merged := *h
			if in.Name != "" {
				merged.Name = in.Name
			}
			if in.TargetUrl != "" {
				merged.TargetUrl = in.TargetUrl
			}
			if len(in.Events) > 0 {
				merged.Events = in.Events
			}
			if in.Secret != "" {
				merged.Secret = in.Secret
			}
			if in.State != "" {
				merged.State = in.State
			}
			t.webhooks[id] = &merged
			cp := merged
			cp.Secret = ""
			restJSON(w, 200, cp)
		case "DELETE":
			delete(t.webhooks, id)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	default:
		notFound()
	}
	return false
}

// udef serves v1/{Entity}/UdefLayout[/...]; the caller holds r.mu.
func (r *REST) udef(w http.ResponseWriter, t *restTenant, method, entity string, p []string, q url.Values, body []byte) bool {
	switch {
	case method == "GET" && len(p) == 0:
		out := []restUdef{}
		for _, f := range t.working[entity] {
			out = append(out, *f)
		}
		restJSON(w, 200, out)
	case method == "POST" && len(p) == 0:
		// A template for a new field; nothing is stored.
		restJSON(w, 200, restUdef{FieldType: q.Get("udefFieldType")})
	case method == "PUT" && len(p) == 0:
		var in []restUdef
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, "a list of fields expected", http.StatusBadRequest)
			return false
		}
		old := map[string]*restUdef{}
		for _, f := range t.working[entity] {
			old[f.ProgId] = f
		}
		seen := map[string]bool{}
		created := false
		var next []*restUdef
		for _, f := range in {
			if f.ProgId == "" || seen[f.ProgId] {
				http.Error(w, "every field needs a unique ProgId", http.StatusBadRequest)
				return false
			}
			seen[f.ProgId] = true
			nf := f
			if o, ok := old[f.ProgId]; ok {
				nf.UDefFieldId, nf.ColumnId = o.UDefFieldId, o.ColumnId
			} else {
				nf.UDefFieldId, nf.ColumnId, created = r.id(), r.id(), true
			}
			next = append(next, &nf)
		}
		t.working[entity] = next
		out := []restUdef{}
		for _, f := range next {
			out = append(out, *f)
		}
		restJSON(w, 200, out)
		return created
	case method == "DELETE" && len(p) == 1:
		i := slices.IndexFunc(t.working[entity], func(f *restUdef) bool { return f.ProgId == p[0] })
		if i < 0 {
			http.Error(w, "not found", http.StatusNotFound)
			return false
		}
		t.working[entity] = slices.Delete(t.working[entity], i, i+1)
		w.WriteHeader(http.StatusNoContent)
	case method == "GET" && len(p) == 1 && p[0] == "Published":
		out := []restUdef{}
		for _, f := range t.published[entity] {
			out = append(out, *f)
		}
		restJSON(w, 200, out)
	case method == "GET" && len(p) == 1 && p[0] == "Publish":
		restJSON(w, 200, false) // is a publish in progress
	case method == "POST" && len(p) == 1 && p[0] == "Publish":
		// Publishing renumbers every field: ids are not stable, ProgIds are.
		var pub []*restUdef
		for _, f := range t.working[entity] {
			f.UDefFieldId = r.id()
			cp := *f
			pub = append(pub, &cp)
		}
		t.published[entity] = pub
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
	return false
}

func sortedValues[V any](m map[int]V) []V {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]V, 0, len(m))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// ApplyFaultSpec applies faults written as a flag value: comma-separated
// entries "<ctx>/<what>[/<arg>[/<arg>]]", where what is
//
//	429/<times>[/<retry-after>]   503/<times>[/<retry-after>]   500/<times>
//	drop/<times>   fail-after-create/<times>   (times 0 = until cleared)
//	latency/<duration>   move/<host>   revoke
//
// e.g. "Cust12345/429/5/2,Cust12345/latency/100ms". Retry-After here is
// seconds only (an HTTP date holds a comma); tests can set dates with InjectFault.
func (r *REST) ApplyFaultSpec(spec string) error {
	var apply []func()
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, "/")
		if len(parts) < 2 || parts[0] == "" {
			return fmt.Errorf("fault %q: want <ctx>/<what>[/<arg>...]", entry)
		}
		ctx, what, args := parts[0], parts[1], parts[2:]
		switch FaultKind(what) {
		case FaultTooManyRequests, FaultUnavailable, FaultInternal, FaultDrop, FaultFailAfterCreate:
			f := Fault{Kind: FaultKind(what)}
			if len(args) > 0 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 0 {
					return fmt.Errorf("fault %q: times must be a number >= 0", entry)
				}
				f.Times = n
			}
			if len(args) > 1 {
				if f.Kind != FaultTooManyRequests && f.Kind != FaultUnavailable {
					return fmt.Errorf("fault %q: only 429 and 503 take a Retry-After", entry)
				}
				f.RetryAfter = args[1]
			}
			if len(args) > 2 {
				return fmt.Errorf("fault %q: too many arguments", entry)
			}
			apply = append(apply, func() { r.InjectFault(ctx, f) })
		case "latency":
			if len(args) != 1 {
				return fmt.Errorf("fault %q: latency takes one duration", entry)
			}
			d, err := time.ParseDuration(args[0])
			if err != nil || d < 0 {
				return fmt.Errorf("fault %q: latency must be a duration >= 0", entry)
			}
			apply = append(apply, func() { r.SetLatency(ctx, d) })
		case "move":
			if len(args) != 1 || args[0] == "" {
				return fmt.Errorf("fault %q: move takes a host name", entry)
			}
			apply = append(apply, func() { r.MoveTenant(ctx, args[0]) })
		case "revoke":
			if len(args) != 0 {
				return fmt.Errorf("fault %q: revoke takes no argument", entry)
			}
			apply = append(apply, func() { r.RevokeConsent(ctx, true) })
		default:
			return fmt.Errorf("fault %q: unknown fault %q", entry, what)
		}
	}
	for _, f := range apply {
		f()
	}
	return nil
}
