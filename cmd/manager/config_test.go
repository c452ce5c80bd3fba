package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigPrintsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "session")
	if err := os.WriteFile(short, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	broken := fmt.Sprintf(`
environment:
  name: online
  tokenURL: http://online.superoffice.com/t
  clientSecretFile: %s/missing-secret
  redirectURL: https://apps.example.com/oauth
  appPrivateKeyFile: %s/missing-key
sessionKeyFile: %s
clockSkew: 5m
callback:
  namespace: Not_A_Namespace
`, dir, dir, short)
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := checkConfig(path, &out); code == 0 {
		t.Fatalf("broken config accepted:\n%s", out.String())
	}
	want := []string{
		"environment.tokenURL:", "must use https",
		"environment.clientID: required",
		fmt.Sprintf("environment.clientSecretFile: file %q does not exist", dir+"/missing-secret"),
		`environment.redirectURL: path is "/oauth"`,
		"environment.appPrivateKeyFile: file",
		"sessionKeyFile: file", "at least 32",
		"appName: required",
		"clockSkew: 5m0s is more than the allowed 1m0s",
		`callback.namespace: "Not_A_Namespace" is not a valid namespace name`,
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "environment.clientID: required") {
		t.Errorf("loadConfig must refuse with the same messages, got %v", err)
	}
}

func TestCheckConfigValidNeverPrintsSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := write("secret", []byte("very-secret-client-secret"))
	session := write("session", bytes.Repeat([]byte("s"), 48))
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	path := write("config.yaml", []byte(fmt.Sprintf(`
environment:
  name: stage
  clientID: abc
  clientSecretFile: %s
  redirectURL: https://apps.example.com/callback
  appPrivateKeyFile: %s
appName: Example
sessionKeyFile: %s
callback:
  namespace: tenant-operator-system
`, secret, keyFile, session)))
	var out bytes.Buffer
	if code := checkConfig(path, &out); code != 0 {
		t.Fatalf("valid config refused:\n%s", out.String())
	}
	if strings.Contains(out.String(), "very-secret-client-secret") || strings.Contains(out.String(), "ssssssss") {
		t.Errorf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "qaonline.superoffice.com") {
		t.Errorf("summary lacks the environment: %s", out.String())
	}
}

func TestCheckConfigUnreadable(t *testing.T) {
	var out bytes.Buffer
	if code := checkConfig(filepath.Join(t.TempDir(), "none.yaml"), &out); code == 0 || !strings.Contains(out.String(), "read config") {
		t.Errorf("missing file: code %d, %s", code, out.String())
	}
	if code := checkConfig("", &out); code == 0 || !strings.Contains(out.String(), "--config is required") {
		t.Errorf("no path: code %d", code)
	}
}
