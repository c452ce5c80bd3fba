package callback

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzParseCallback feeds arbitrary queries and bodies to the callback
// parser: it must never panic, and whatever it accepts must be complete
// and bounded.
func FuzzParseCallback(f *testing.F) {
	f.Add(true, "", "code=abc&state=xyz", "")
	f.Add(true, "", "id_token=a.b.c&state=xyz", "")
	f.Add(true, "", "error=access_denied&state=x", "")
	f.Add(true, "", "code=a&code=b&state=c", "")
	f.Add(true, "", "%zz", "")
	f.Add(false, "application/x-www-form-urlencoded", "", "id_token=a.b.c&state=xyz")
	f.Add(false, "application/x-www-form-urlencoded; charset=utf-8", "", "code=a&state=b")
	f.Add(false, "application/json", "", `{"code":"a","state":"b"}`)
	f.Add(false, "multipart/form-data; boundary=x", "", "--x--")
	f.Add(false, "application/x-www-form-urlencoded", "", strings.Repeat("a", 70000))
	f.Fuzz(func(t *testing.T, get bool, contentType, query, body string) {
		method := http.MethodPost
		if get {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, "/callback", bytes.NewReader([]byte(body)))
		req.URL.RawQuery = query
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		req.Body = http.MaxBytesReader(rec, req.Body, MaxBodyBytes)
		p, err := parseCallback(req)
		if err != nil {
			if p != (callbackParams{}) {
				t.Fatalf("error with partial result %+v", p)
			}
			return
		}
		if p.Error == "" && (p.State == "" || (p.Code == "") == (p.IDToken == "")) {
			t.Fatalf("accepted an incomplete callback: %+v", p)
		}
		for _, v := range []string{p.Code, p.State, p.IDToken, p.Error} {
			if len(v) > maxFieldBytes {
				t.Fatalf("accepted a field of %d bytes", len(v))
			}
		}
	})
}

// FuzzCheckState: a state that was not sealed by us never passes, and no
// input panics.
func FuzzCheckState(f *testing.F) {
	s := &Server{signer: signer{key: bytes.Repeat([]byte{1}, 32)}, used: newUsedStates(1000)}
	now := time.Unix(1_800_000_000, 0)
	good, _ := s.signer.seal("state", newState(purposeInstall, "Cust1", now))
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAA")
	f.Add(strings.Repeat("A", 5000))
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := s.checkState(raw, now)
		if err == nil && raw != good {
			// Only re-encodings of the sealed bytes could pass; the HMAC
			// covers the decoded payload, so anything else is a forgery.
			var probe flowState
			if s.signer.open("state", raw, &probe) != nil {
				t.Fatalf("accepted an unsigned state: %q -> %+v", raw, st)
			}
		}
	})
}
