package superofficesim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestApplyFaultSpec(t *testing.T) {
	cases := []struct {
		spec string
		ok   bool
	}{
		{"", true},
		{"Cust1/429/5/2", true},
		{"Cust1/503/0/30", true},
		{"Cust1/500/1, Cust1/drop/2,Cust1/fail-after-create/1", true},
		{"Cust1/latency/150ms,Cust1/move/online7,Cust1/revoke", true},
		{"Cust1", false},
		{"/429/1", false},
		{"Cust1/418/1", false},
		{"Cust1/429/x", false},
		{"Cust1/500/1/5", false},
		{"Cust1/latency/soon", false},
		{"Cust1/move", false},
		{"Cust1/revoke/now", false},
	}
	for _, tc := range cases {
		s, err := New(Options{KeyBits: 1024})
		if err != nil {
			t.Fatal(err)
		}
		r := s.RegisterREST()
		err = r.ApplyFaultSpec(tc.spec)
		if (err == nil) != tc.ok {
			t.Errorf("ApplyFaultSpec(%q) = %v, want ok=%v", tc.spec, err, tc.ok)
		}
	}
	// What a valid spec does.
	s, _ := New(Options{KeyBits: 1024})
	r := s.RegisterREST()
	if err := r.ApplyFaultSpec("Cust1/429/2/7,Cust1/move/h2,Cust1/revoke"); err != nil {
		t.Fatal(err)
	}
	tn := r.tenants["Cust1"]
	if len(tn.faults) != 1 || tn.faults[0].Times != 2 || tn.faults[0].RetryAfter != "7" || !tn.moved || tn.host != "h2" || !tn.revoked {
		t.Errorf("tenant after spec = %+v, fault %+v", tn, tn.faults)
	}
	// A bad entry applies nothing, not half.
	s2, _ := New(Options{KeyBits: 1024})
	r2 := s2.RegisterREST()
	if err := r2.ApplyFaultSpec("Cust1/revoke,Cust1/bogus"); err == nil {
		t.Fatal("bad spec accepted")
	}
	if tn, ok := r2.tenants["Cust1"]; ok && tn.revoked {
		t.Error("a rejected spec was partly applied")
	}
}

func FuzzApplyFaultSpec(f *testing.F) {
	for _, s := range []string{"Cust1/429/5/2", "a/latency/1s,b/move/x", "c/revoke", ",,", "x/500/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := New(Options{KeyBits: 1024})
		if err != nil {
			t.Fatal(err)
		}
		r := s.RegisterREST()
		if err := r.ApplyFaultSpec(spec); err == nil {
			for _, tn := range r.tenants {
				for _, f := range tn.faults {
					if f.Times < 0 {
						t.Fatalf("negative times accepted from %q", spec)
					}
				}
				if tn.latency < 0 {
					t.Fatalf("negative latency accepted from %q", spec)
				}
			}
		}
	})
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	cases := []struct {
		ts   []time.Time
		want int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 999), 2},
		{at(0, 1000), 1},
		{at(0, 100, 200, 1150, 1190), 3},
		{at(1190, 0, 1150, 100, 200), 3},
	}
	for _, tc := range cases {
		if got := maxInWindow(tc.ts, time.Second); got != tc.want {
			t.Errorf("maxInWindow(%v) = %d, want %d", tc.ts, got, tc.want)
		}
	}
}

func TestVerifySignedSystemToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC)
	mk := func(payload string) string {
		sum := sha256.Sum256([]byte(payload))
		sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		return payload + "." + base64.StdEncoding.EncodeToString(sig)
	}
	cases := []struct {
		name, signed string
		ok           bool
	}{
		{"good", mk("App-tok.202605060708"), true},
		{"dots in the token", mk("App.tok.x.202605060705"), true},
		{"too old", mk("App-tok.202605060650"), false},
		{"not a time", mk("App-tok.2026050607xx"), false},
		{"tampered", strings.Replace(mk("App-tok.202605060708"), "App-tok", "App-tol", 1), false},
		{"no signature", "App-tok.202605060708", false},
		{"nothing", "", false},
	}
	for _, tc := range cases {
		tok, err := verifySignedSystemToken(tc.signed, &key.PublicKey, now)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if tc.ok && !strings.HasPrefix(tc.signed, tok+".") {
			t.Errorf("%s: token %q", tc.name, tok)
		}
	}
}

// TestSoftDeleteIsNotGone: DELETE on a web panel list item only marks it,
// as in SuperOffice, and Objects still lists it.
func TestSoftDeleteIsNotGone(t *testing.T) {
	s, err := New(Options{ClientID: "c", ClientSecret: "sec", KeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	r := s.RegisterREST()
	srv := s.Start()
	defer srv.Close()
	s.AddTenant(Tenant{ContextID: "Cust1"})
	r.mu.Lock()
	r.tickets["tk"] = "Cust1"
	r.mu.Unlock()
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, r.TenantAPIURL("Cust1")+path, strings.NewReader(body))
		req.Header.Set("Authorization", "SOTicket tk")
		req.Header.Set("SO-AppToken", "sec")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp
	}
	if resp := do("POST", "v1/List/WebPanel/Items", `{"Name":"p"}`); resp.StatusCode != 200 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	id := r.Objects("Cust1")[0].ID
	if resp := do("DELETE", "v1/List/WebPanel/Items/"+id, ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	objs := r.Objects("Cust1")
	if len(objs) != 1 || !objs[0].Deleted {
		t.Fatalf("after soft delete: %+v", objs)
	}
	if resp := do("POST", "v1/Agents/List/DeleteWebPanel", `{"WebPanelId":`+id+`}`); resp.StatusCode != 204 {
		t.Fatalf("hard delete: %d", resp.StatusCode)
	}
	if objs := r.Objects("Cust1"); len(objs) != 0 {
		t.Fatalf("after hard delete: %+v", objs)
	}
	// Wrong app token or ticket: 401.
	req, _ := http.NewRequest("GET", r.TenantAPIURL("Cust1")+"v1/List/WebPanel/Items", nil)
	req.Header.Set("Authorization", "SOTicket tk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no app token: %d, want 401", resp.StatusCode)
	}
	// The state API names the moved address; the old one answers 421.
	old := r.TenantAPIURL("Cust1")
	r.MoveTenant("Cust1", "h9")
	resp, err = http.Get(srv.URL + "/api/state/Cust1")
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Api, Endpoint string }
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Api != r.TenantAPIURL("Cust1") || st.Api == old || !strings.Contains(st.Api, "/hosts/h9/Cust1/api/") {
		t.Errorf("state API Api = %q (old %q)", st.Api, old)
	}
	if resp := do("GET", "v1/List/WebPanel/Items", ""); resp.StatusCode != 200 {
		t.Errorf("new address: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", old+"v1/List/WebPanel/Items", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("old address: %d, want 421", resp.StatusCode)
	}
}
