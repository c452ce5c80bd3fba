package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenant-operator/tenant-operator/internal/config"
)

func TestChooseMode(t *testing.T) {
	files := map[string]bool{"/home/u/.kube/config": true, "/tmp/kc": true}
	exists := func(p string) bool { return files[p] }
	tests := []struct {
		name              string
		embedded, cluster bool
		kubeconfig, home  string
		want              Mode
		wantErr           string
	}{
		{name: "fresh clone: nothing configured", home: "/home/none", want: ModeEmbedded},
		{name: "no home at all", want: ModeEmbedded},
		{name: "~/.kube/config exists", home: "/home/u", want: ModeCluster},
		{name: "KUBECONFIG set", kubeconfig: "/tmp/kc", home: "/home/none", want: ModeCluster},
		{name: "KUBECONFIG list with one existing file", kubeconfig: "/missing:/tmp/kc", want: ModeCluster},
		{name: "--embedded beats KUBECONFIG", embedded: true, kubeconfig: "/tmp/kc", want: ModeEmbedded},
		{name: "--cluster without any config", cluster: true, want: ModeCluster},
		{name: "both flags", embedded: true, cluster: true, wantErr: "exclude each other"},
		{name: "KUBECONFIG names a missing file", kubeconfig: "/missing", home: "/home/u", wantErr: "names no existing file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := chooseMode(tc.embedded, tc.cluster, tc.kubeconfig, tc.home, exists)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("mode = %s (%s), want %s", got, why, tc.want)
			}
			if why == "" {
				t.Fatal("no reason given for the mode")
			}
		})
	}
}

func TestWriteDevFilesLoadsAndKeepsSecretsPrivate(t *testing.T) {
	dir := t.TempDir()
	s, err := writeDevFiles(dir, "http://127.0.0.1:8082", "http://127.0.0.1:8555")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(s.ConfigFile)
	if err != nil {
		t.Fatalf("the dev config does not load: %v", err)
	}
	if c.Environment.Name != devEnvironment || c.Environment.Issuer != "http://127.0.0.1:8555" ||
		c.Environment.RedirectURL != "http://127.0.0.1:8082/callback" || c.Callback.Namespace != devNamespace {
		t.Fatalf("unexpected config: %s", c)
	}
	if c.Environment.AuthorizeURL != "http://127.0.0.1:8555/login/common/oauth/authorize" {
		t.Fatalf("authorize URL %q does not point at the simulator", c.Environment.AuthorizeURL)
	}
	if c.AppPrivateKey == nil || c.AppPrivateKey.N.Cmp(s.AppKey.N) != 0 {
		t.Fatal("the config's app key is not the generated one")
	}
	raw, err := os.ReadFile(s.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), s.ClientSecret) {
		t.Fatal("the config file holds the client secret itself instead of its path")
	}
	for _, f := range []string{s.AppKeyFile, s.ClientSecretFile, s.SessionKeyFile, s.ConfigFile} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
	other, err := writeDevFiles(t.TempDir(), "http://127.0.0.1:1", "http://127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	if other.ClientSecret == s.ClientSecret || other.AppKey.N.Cmp(s.AppKey.N) == 0 {
		t.Fatal("two dev environments share secrets")
	}
}

func TestBannerSaysWhatToOpenAndPaste(t *testing.T) {
	var out strings.Builder
	printBanner(&ui{w: &out}, bannerInput{
		ready: 9876 * time.Millisecond, callbackURL: "http://127.0.0.1:8082", simulatorURL: "http://127.0.0.1:8555",
		tenant: "Cust12345", kubeconfig: "/tmp/wd/kubeconfig", kubectl: "/cache/kubectl", dir: "/tmp/wd",
		managerLog: "/tmp/wd/manager.log", managerPID: 42,
	})
	got := out.String()
	for _, want := range []string{
		"ready (embedded) in 9.9s",
		"  Install the app     http://127.0.0.1:8082/install\n",
		"http://127.0.0.1:8082/installations/dev-cust12345",
		"/cache/kubectl --kubeconfig /tmp/wd/kubeconfig get ti -A\n",
		"/cache/kubectl --kubeconfig /tmp/wd/kubeconfig describe ti -n tenant-operator-system dev-cust12345\n",
		"-n tenant-dev-cust12345",
		"  Work directory      /tmp/wd\n",
		"(pid 42)",
		"Ctrl-C",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("banner lacks %q:\n%s", want, got)
		}
	}
}

func TestWithoutEnvDropsOnlyThatVariable(t *testing.T) {
	in := []string{"KUBECONFIG=/a", "KUBECONFIG_EXTRA=1", "HOME=/root", "KUBECONFIG="}
	got := withoutEnv(in, "KUBECONFIG")
	if strings.Join(got, ",") != "KUBECONFIG_EXTRA=1,HOME=/root" {
		t.Fatalf("withoutEnv = %v", got)
	}
	if in[0] != "KUBECONFIG=/a" {
		t.Fatal("withoutEnv changed its input")
	}
}
