// Command superofficesim serves the SuperOffice simulator on a loopback port
// for `make run`: login (OIDC discovery, JWKS, authorize with a consent page,
// tokens), the system user exchange, the state API and the tenant REST API.
package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8555", "address to serve on (loopback)")
	tenant := flag.String("tenant", "Cust12345", "tenant (context identifier) the simulated administrator belongs to")
	clientID := flag.String("client-id", "tenant-operator-dev", "client id of the app")
	secretFile := flag.String("client-secret-file", "", "file holding the app's client secret")
	pubFile := flag.String("app-public-key-file", "", "PEM file with the app's public key (or private key) that signs system user tokens")
	consentPage := flag.Bool("consent-page", true, "show a consent page instead of consenting automatically")
	redirectURI := flag.String("redirect-uri", "", "the only redirect URI accepted (default: any)")
	flag.Parse()

	if err := run(*listen, *tenant, *clientID, *secretFile, *pubFile, *redirectURI, *consentPage); err != nil {
		fmt.Fprintln(os.Stderr, "superofficesim:", err)
		os.Exit(1)
	}
}

func run(listen, tenant, clientID, secretFile, pubFile, redirectURI string, consentPage bool) error {
	if secretFile == "" {
		return errors.New("--client-secret-file is required")
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		return fmt.Errorf("read client secret: %w", err)
	}
	var pub *rsa.PublicKey
	if pubFile != "" {
		if pub, err = readPublicKey(pubFile); err != nil {
			return err
		}
	}
	opts := superofficesim.Options{ClientID: clientID, ClientSecret: strings.TrimRight(string(secret), "\r\n"), AppPublicKey: pub}
	idOpts := superofficesim.IdentityOptions{
		User:        superofficesim.User{Tenant: tenant, AssociateID: 5, Email: "admin@example.com", UPN: "admin@example.com", IsAdministrator: true},
		ConsentPage: consentPage,
	}
	if redirectURI != "" {
		idOpts.RedirectURIs = []string{redirectURI}
	}
	sim, id, err := superofficesim.NewEnvironment(opts, idOpts)
	if err != nil {
		return err
	}
	sim.AddTenant(superofficesim.Tenant{ContextID: tenant, Serial: "1000", CompanyName: "Example Company AS"})
	rest := sim.RegisterREST()
	rest.SetSystemTokens(id.SystemToken)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim.SetBaseURL("http://" + ln.Addr().String())
	log.Printf("SuperOffice simulator on %s (issuer %s, tenant %s)", sim.BaseURL(), id.Issuer(), tenant)
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(ln)
}

func readPublicKey(path string) (*rsa.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read app public key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("app public key: no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("app public key: %w", err)
		}
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, errors.New("app public key is not RSA")
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("app key: %w", err)
		}
		return &k.PublicKey, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("app key: %w", err)
		}
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return &rk.PublicKey, nil
		}
		return nil, errors.New("app key is not RSA")
	}
	return nil, fmt.Errorf("app public key: unexpected PEM block %q", block.Type)
}
