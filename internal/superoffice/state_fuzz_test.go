package superoffice

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// FuzzTenantStateAPIBase: whatever the state API answers, the client either
// gets an absolute http(s) base ending in "/" or a clear error.
func FuzzTenantStateAPIBase(f *testing.F) {
	f.Add("https://online3.superoffice.com/Cust1/api", "")
	f.Add("", "https://sod2.superoffice.com/Cust1")
	f.Add("ftp://x", "")
	f.Add("", "")
	f.Add("http://h/a?b=c", "")
	f.Fuzz(func(t *testing.T, api, endpoint string) {
		base, err := TenantState{Api: api, Endpoint: endpoint}.APIBase()
		if err != nil {
			return
		}
		if !strings.HasSuffix(base, "/") || !(strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://")) {
			t.Fatalf("APIBase(%q, %q) = %q", api, endpoint, base)
		}
	})
}

func BenchmarkClientDo(b *testing.B) {
	h := newRESTHarness(b)
	svc := h.service(b, nil)
	c := h.client(b, svc)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := c.Do(ctx, Request{Op: OpWebPanelList, Method: http.MethodGet, Path: "v1/List/WebPanel/Items", Idempotent: true}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
