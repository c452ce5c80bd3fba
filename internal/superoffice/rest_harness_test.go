package superoffice

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

const (
	testTenant = "Cust12345"
	testSecret = "client-secret-for-tests"
	testToken  = "TestApp-systemtoken-abcdef"
)

// restHarness is a simulator with its REST side, an app key pair and a tenant.
type restHarness struct {
	sim    *superofficesim.Simulator
	rest   *superofficesim.REST
	srv    *httptest.Server
	appKey *rsa.PrivateKey
	su     *SystemUser
	usage  *tenancyv1alpha1.Usage
}

var testAppKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// simKeyfunc resolves the simulator's published keys by kid, as the
// production KeySet does from the JWKS.
func simKeyfunc(s *superofficesim.Simulator) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range s.PublishedKeys() {
			if k.ID == kid {
				return &k.Private.PublicKey, nil
			}
		}
		return nil, errors.New("unknown kid")
	}
}

func newRESTHarness(t testing.TB) *restHarness {
	t.Helper()
	s, err := superofficesim.New(superofficesim.Options{ClientID: "client-id", ClientSecret: testSecret, AppPublicKey: &testAppKey.PublicKey, KeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	r := s.RegisterREST()
	r.SetSystemTokens(func(string) string { return testToken })
	srv := s.Start()
	t.Cleanup(srv.Close)
	s.AddTenant(superofficesim.Tenant{ContextID: testTenant, Serial: "1234567", CompanyName: "Test AS"})
	su, err := NewSystemUser(SystemUserOptions{
		Environment: "test", AuthenticateURL: srv.URL + SystemUserAuthenticatePath, ApplicationToken: testSecret,
		PrivateKey: testAppKey, Keyfunc: simKeyfunc(s),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &restHarness{sim: s, rest: r, srv: srv, appKey: testAppKey, su: su, usage: &tenancyv1alpha1.Usage{}}
}

func (h *restHarness) service(t testing.TB, mod func(*RESTOptions)) *RESTService {
	t.Helper()
	o := RESTOptions{Environment: "test", AppToken: testSecret, StateAPIBaseURL: h.srv.URL,
		Limits: Limits{GlobalRate: 1000, GlobalBurst: 1000, TenantRate: 1000, TenantBurst: 1000, MaxWait: 10 * time.Millisecond}}
	if mod != nil {
		mod(&o)
	}
	svc, err := NewRESTService(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (h *restHarness) client(t testing.TB, svc *RESTService) *Client {
	t.Helper()
	c, err := svc.Tenant(TenantClientOptions{
		TenantID: testTenant, WebAPIURL: h.rest.TenantAPIURL(testTenant),
		Tickets: SystemUserTickets(h.su, SystemUserCredentials{TenantID: testTenant, SystemToken: testToken, Serial: "1234567"}),
		Meter:   &Meter{Usage: h.usage},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
