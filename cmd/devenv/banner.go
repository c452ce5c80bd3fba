package main

import (
	"fmt"
	"strings"
	"time"
)

type bannerInput struct {
	ready        time.Duration
	callbackURL  string
	simulatorURL string
	tenant       string
	kubeconfig   string
	kubectl      string
	dir          string
	managerLog   string
	managerPID   int
	autoConsent  bool
}

// installationName is the callback server's deterministic name for the
// demo tenant's installation: <environment>-<tenant id lowercased>.
func installationName(tenant string) string {
	return devEnvironment + "-" + strings.ToLower(tenant)
}

// printBanner says what to open and what to paste. Tests read the lines
// starting "Install the app" and "Work directory"; keep their shape.
func printBanner(u *ui, b bannerInput) {
	k := fmt.Sprintf("%s --kubeconfig %s", b.kubectl, b.kubeconfig)
	name := installationName(b.tenant)
	consent := "click Allow on the simulator's consent page"
	if b.autoConsent {
		consent = "the simulator consents automatically"
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\ntenant-operator is ready (embedded) in %s.\n\n", b.ready.Round(100*time.Millisecond))
	fmt.Fprintf(&s, "  Install the app     %s/install\n", b.callbackURL)
	fmt.Fprintf(&s, "                      signs in at the SuperOffice simulator as admin@example.com of %s; %s\n", b.tenant, consent)
	fmt.Fprintf(&s, "  Status page         %s/installations/%s   (after installing)\n", b.callbackURL, name)
	fmt.Fprintf(&s, "  Uninstall           %s/uninstall?tenant=%s\n", b.callbackURL, b.tenant)
	fmt.Fprintf(&s, "  SuperOffice sim     %s   (what the app created: %s/_devenv/tenants/%s/objects)\n", b.simulatorURL, b.simulatorURL, b.tenant)
	fmt.Fprintf(&s, "  Kubeconfig          %s\n", b.kubeconfig)
	fmt.Fprintf(&s, "  kubectl             %s\n", b.kubectl)
	fmt.Fprintf(&s, "  Manager log         %s   (pid %d)\n", b.managerLog, b.managerPID)
	fmt.Fprintf(&s, "  Work directory      %s\n", b.dir)
	fmt.Fprintf(&s, "\n  Try:\n")
	fmt.Fprintf(&s, "    %s get tbp default -o yaml\n", k)
	fmt.Fprintf(&s, "    %s get ti -A\n", k)
	fmt.Fprintf(&s, "    %s describe ti -n %s %s\n", k, devNamespace, name)
	fmt.Fprintf(&s, "    %s get ti -n %s %s -o jsonpath='{range .status.provisioned[*]}{.target}{\"\\t\"}{.kind}{\"\\t\"}{.name}{\"\\n\"}{end}'\n", k, devNamespace, name)
	fmt.Fprintf(&s, "    %s get ns,quota,limitrange,networkpolicy,configmap -n tenant-%s-%s\n", k, devEnvironment, strings.ToLower(b.tenant))
	fmt.Fprintf(&s, "    tail -f %s\n", b.managerLog)
	fmt.Fprintf(&s, "\n  Press Ctrl-C to stop everything; the work directory is removed.\n")
	u.info("%s", s.String())
}
