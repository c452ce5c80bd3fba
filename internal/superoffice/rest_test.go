package superoffice

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

func getPanels(ctx context.Context, c *Client) error {
	var out []map[string]any
	return c.Do(ctx, Request{Op: OpWebPanelList, Method: http.MethodGet, Path: "v1/List/WebPanel/Items", Idempotent: true}, &out)
}

func TestClientRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		fault      superofficesim.Fault
		minWait    time.Duration
		maxWait    time.Duration
		throttled  int64
		wantThrott bool
	}{
		{"429 seconds", superofficesim.Fault{Kind: superofficesim.FaultTooManyRequests, Times: 1, RetryAfter: "7"}, 7 * time.Second, 7 * time.Second, 1, true},
		{"429 http date", superofficesim.Fault{Kind: superofficesim.FaultTooManyRequests, Times: 1, RetryAfter: date}, 80 * time.Second, 91 * time.Second, 1, true},
		{"429 without header uses the default", superofficesim.Fault{Kind: superofficesim.FaultTooManyRequests, Times: 1}, defaultRetryAfter, defaultRetryAfter, 1, true},
		{"503 with Retry-After is a throttle", superofficesim.Fault{Kind: superofficesim.FaultUnavailable, Times: 1, RetryAfter: "3"}, 3 * time.Second, 3 * time.Second, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRESTHarness(t)
			c := h.client(t, h.service(t, nil))
			h.rest.InjectFault(testTenant, tc.fault)
			err := getPanels(context.Background(), c)
			th, ok := AsThrottled(err)
			if !ok {
				t.Fatalf("want ThrottledError, got %v", err)
			}
			if th.RetryAfter < tc.minWait || th.RetryAfter > tc.maxWait {
				t.Errorf("RetryAfter = %s, want within [%s, %s]", th.RetryAfter, tc.minWait, tc.maxWait)
			}
			if h.usage.Throttled != tc.throttled {
				t.Errorf("usage.throttled = %d, want %d", h.usage.Throttled, tc.throttled)
			}
			// The hold-off answers the next call locally, without asking SuperOffice.
			before := h.rest.Stats(testTenant).REST
			if _, ok := AsThrottled(getPanels(context.Background(), c)); !ok {
				t.Error("a call during the hold-off was not throttled")
			}
			if after := h.rest.Stats(testTenant).REST; after != before {
				t.Errorf("the call during the hold-off reached SuperOffice (%d -> %d requests)", before, after)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"12", 12 * time.Second, true},
		{" 5 ", 5 * time.Second, true},
		{"999999999", 24 * time.Hour, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	}
	for _, tc := range cases {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %s outside [0, 24h]", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) not ok but %s", s, d)
		}
	})
}

func TestClientFollows421(t *testing.T) {
	h := newRESTHarness(t)
	var movedTo []string
	svc := h.service(t, func(o *RESTOptions) {
		o.OnEndpointMoved = func(tenant, u string) { movedTo = append(movedTo, tenant+" "+u) }
	})
	c := h.client(t, svc)
	old := c.BaseURL()
	h.rest.MoveTenant(testTenant, "online7")
	if err := getPanels(context.Background(), c); err != nil {
		t.Fatalf("call after move: %v", err)
	}
	want := h.rest.TenantAPIURL(testTenant)
	if want == old {
		t.Fatal("the simulator did not move the tenant")
	}
	if c.MovedTo() != want || c.BaseURL() != want {
		t.Errorf("MovedTo = %q, BaseURL = %q; want %q", c.MovedTo(), c.BaseURL(), want)
	}
	if len(movedTo) != 1 || movedTo[0] != testTenant+" "+want {
		t.Errorf("OnEndpointMoved calls = %v", movedTo)
	}
	st := h.rest.Stats(testTenant)
	if st.StateReads != 1 || st.REST != 2 {
		t.Errorf("state reads = %d, REST = %d; want 1 and 2 (one 421, one retry)", st.StateReads, st.REST)
	}
	// A client made from the stale spec goes straight to the new host.
	c2 := h.client(t, svc)
	if err := getPanels(context.Background(), c2); err != nil {
		t.Fatal(err)
	}
	if st2 := h.rest.Stats(testTenant); st2.REST != 3 || st2.StateReads != 1 {
		t.Errorf("second client: REST = %d, state reads = %d; want 3 and 1", st2.REST, st2.StateReads)
	}
}

func TestClientRetriesOnlyIdempotent(t *testing.T) {
	cases := []struct {
		name       string
		faults     []superofficesim.Fault
		idempotent bool
		wantErr    bool
		wantREST   int
	}{
		{"500 once then success", []superofficesim.Fault{{Kind: superofficesim.FaultInternal, Times: 1}}, true, false, 2},
		{"dropped once then success", []superofficesim.Fault{{Kind: superofficesim.FaultDrop, Times: 1}}, true, false, 2},
		{"503 without Retry-After is retried", []superofficesim.Fault{{Kind: superofficesim.FaultUnavailable, Times: 1}}, true, false, 2},
		{"500 always gives up after 3 tries", []superofficesim.Fault{{Kind: superofficesim.FaultInternal}}, true, true, 3},
		{"a create is never retried", []superofficesim.Fault{{Kind: superofficesim.FaultDrop, Times: 1}}, false, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRESTHarness(t)
			c := h.client(t, h.service(t, nil))
			for _, f := range tc.faults {
				h.rest.InjectFault(testTenant, f)
			}
			err := c.Do(context.Background(), Request{Op: OpWebPanelList, Method: http.MethodPost, Path: "v1/Agents/List/GetAppWebPanels", Idempotent: tc.idempotent}, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				var te *TransientError
				if !errors.As(err, &te) {
					t.Errorf("want a TransientError, got %T %v", err, err)
				}
			}
			if got := h.rest.Stats(testTenant).REST; got != tc.wantREST {
				t.Errorf("SuperOffice saw %d requests, want %d", got, tc.wantREST)
			}
		})
	}
}

// TestRateLimitNeverBlocks proves the limit by the returned error, not by time.
func TestRateLimitNeverBlocks(t *testing.T) {
	cases := []struct {
		name   string
		limits Limits
		reason string
	}{
		{"tenant limit", Limits{TenantRate: 0.5, TenantBurst: MinBurst, GlobalRate: 1000, GlobalBurst: 1000}, "tenant rate limit"},
		{"global limit", Limits{TenantRate: 1000, TenantBurst: 1000, GlobalRate: 0.5, GlobalBurst: MinBurst}, "global rate limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRESTHarness(t)
			c := h.client(t, h.service(t, func(o *RESTOptions) { o.Limits = tc.limits }))
			for i := range MinBurst {
				if err := getPanels(context.Background(), c); err != nil {
					t.Fatalf("call %d within the burst: %v", i, err)
				}
			}
			err := getPanels(context.Background(), c)
			th, ok := AsThrottled(err)
			if !ok {
				t.Fatalf("call after the burst: want ThrottledError, got %v", err)
			}
			// Back when the bucket is full: about MinBurst tokens at 0.5/s.
			if th.Reason != tc.reason || th.RetryAfter < 11*time.Second || th.RetryAfter > 12*time.Second {
				t.Errorf("throttle = %+v; want reason %q and a delay of about 12s (a full bucket)", th, tc.reason)
			}
			if got := h.rest.Stats(testTenant).REST; got != MinBurst {
				t.Errorf("SuperOffice saw %d requests, want %d", got, MinBurst)
			}
			if h.usage.Throttled != 0 {
				t.Errorf("our own limit counted as SuperOffice throttling: %d", h.usage.Throttled)
			}
		})
	}
}

func TestClientRefreshesTicketOn401(t *testing.T) {
	h := newRESTHarness(t)
	c := h.client(t, h.service(t, nil))
	if err := getPanels(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// Revoking drops every ticket; restoring lets a new exchange succeed.
	h.rest.RevokeConsent(testTenant, true)
	h.rest.RevokeConsent(testTenant, false)
	if err := getPanels(context.Background(), c); err != nil {
		t.Fatalf("after the ticket was dropped: %v", err)
	}
	if got := h.rest.Stats(testTenant).Exchanges; got != 2 {
		t.Errorf("exchanges = %d, want 2 (one at start, one after the 401)", got)
	}
	h.rest.RevokeConsent(testTenant, true)
	err := getPanels(context.Background(), c)
	if !errors.Is(err, ErrCredentials) {
		t.Fatalf("revoked: want a credentials error, got %v", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testSecret) {
		t.Errorf("error leaks a secret: %v", err)
	}
}

func TestClientMetersUsageAndMetrics(t *testing.T) {
	h := newRESTHarness(t)
	c := h.client(t, h.service(t, nil))
	before := testutil.ToFloat64(requestsTotal.WithLabelValues("test", OpWebPanelList, "2xx"))
	for range 3 {
		if err := getPanels(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// 3 REST calls plus the one ticket exchange.
	if h.usage.Requests != 4 || h.usage.Bytes <= 0 || h.usage.LastRequestTime == nil {
		t.Errorf("usage = %+v; want 4 requests, bytes > 0 and a last request time", h.usage)
	}
	if got := testutil.ToFloat64(requestsTotal.WithLabelValues("test", OpWebPanelList, "2xx")) - before; got != 3 {
		t.Errorf("requests_total grew by %v, want 3", got)
	}
	if opLabel("made-up") != OpOther {
		t.Error("an unknown operation must map to the bounded label 'other'")
	}
}

func TestNewRESTServiceValidates(t *testing.T) {
	cases := []struct {
		name string
		o    RESTOptions
		want string
	}{
		{"no app token", RESTOptions{StateAPIBaseURL: "https://x"}, "AppToken"},
		{"no state api", RESTOptions{AppToken: "s"}, "StateAPIBaseURL"},
		{"relative state api", RESTOptions{AppToken: "s", StateAPIBaseURL: "/api/state"}, "absolute"},
		{"burst too small to finish one artifact", RESTOptions{AppToken: "s", StateAPIBaseURL: "https://x", Limits: Limits{TenantRate: 5, TenantBurst: 2}}, "per-tenant burst 2"},
		{"negative rate", RESTOptions{AppToken: "s", StateAPIBaseURL: "https://x", Limits: Limits{TenantRate: -1}}, "negative"},
	}
	for _, tc := range cases {
		if _, err := NewRESTService(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
	svc, err := NewRESTService(RESTOptions{AppToken: "s", StateAPIBaseURL: "https://online.superoffice.com"})
	if err != nil {
		t.Fatal(err)
	}
	if svc.opts.StateAPIBaseURL != "https://online.superoffice.com/api/state/" {
		t.Errorf("state API base = %q", svc.opts.StateAPIBaseURL)
	}
	if _, err := svc.Tenant(TenantClientOptions{TenantID: "Cust1", WebAPIURL: "ftp://x/", Tickets: SystemUserTickets(nil, SystemUserCredentials{})}); err == nil {
		t.Error("a non-http webAPIURL was accepted")
	}
}

// TestExpectChecksBeforeASequence: Expect refuses a run the limit cannot
// admit soon, before its first request, and takes no tokens itself.
func TestExpectChecksBeforeASequence(t *testing.T) {
	h := newRESTHarness(t)
	c := h.client(t, h.service(t, func(o *RESTOptions) {
		o.Limits = Limits{TenantRate: 0.5, TenantBurst: MinBurst, GlobalRate: 1000, GlobalBurst: 1000, MaxWait: 10 * time.Millisecond}
	}))
	for range 3 {
		if err := c.Expect(OpUdefWrite, MinBurst); err != nil {
			t.Fatalf("full bucket: %v", err)
		}
	}
	for range 4 {
		if err := getPanels(context.Background(), c); err != nil {
			t.Fatalf("Expect took tokens: %v", err)
		}
	}
	err := c.Expect(OpUdefWrite, MinBurst)
	th, ok := AsThrottled(err)
	if !ok || th.RetryAfter < 7*time.Second || th.RetryAfter > 8*time.Second {
		t.Fatalf("Expect(%d) with 2 tokens left = %v; want a throttle of about 8s (a full bucket)", MinBurst, err)
	}
	if err := c.Expect(OpPrefWrite, 2); err != nil {
		t.Errorf("Expect(2) with 2 tokens left: %v", err)
	}
	if got := h.rest.Stats(testTenant).REST; got != 4 {
		t.Errorf("SuperOffice saw %d requests, want 4", got)
	}
}
