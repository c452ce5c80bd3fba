package deploy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/config"
)

// target is one deployable rendering of config/.
type target struct {
	name      string // test name
	dir       string // kustomization directory
	env       string // SuperOffice environment its config names
	namespace string // namespace of the manager
	prefix    string // namePrefix
	leaderID  string // expected --leader-election-id
	overlay   bool   // one of the per-environment overlays
}

var targets = []target{
	{name: "default", dir: "default", env: "sod", namespace: "tenant-operator-system", prefix: "tenant-operator-",
		leaderID: "tenant-operator.tenancy.tenant-operator.io"},
	{name: "sod", dir: "overlays/sod", env: "sod", namespace: "tenant-operator-sod", prefix: "tenant-operator-sod-",
		leaderID: "tenant-operator-sod.tenancy.tenant-operator.io", overlay: true},
	{name: "stage", dir: "overlays/stage", env: "stage", namespace: "tenant-operator-stage", prefix: "tenant-operator-stage-",
		leaderID: "tenant-operator-stage.tenancy.tenant-operator.io", overlay: true},
	{name: "online", dir: "overlays/online", env: "online", namespace: "tenant-operator-online", prefix: "tenant-operator-online-",
		leaderID: "tenant-operator-online.tenancy.tenant-operator.io", overlay: true},
}

func overlays() []target {
	var out []target
	for _, tg := range targets {
		if tg.overlay {
			out = append(out, tg)
		}
	}
	return out
}

// Renderings are cached: they depend only on the files on disk.
var (
	renderMu    sync.Mutex
	renderCache = map[string][]*unstructured.Unstructured{}
)

func mustRender(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if objs, ok := renderCache[dir]; ok {
		return deepCopyAll(objs)
	}
	objs, err := render(filepath.Join(configDir, dir))
	if err != nil {
		t.Fatalf("render config/%s: %v", dir, err)
	}
	if len(objs) == 0 {
		t.Fatalf("config/%s renders nothing", dir)
	}
	renderCache[dir] = objs
	return deepCopyAll(objs)
}

func deepCopyAll(in []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(in))
	for i, u := range in {
		out[i] = u.DeepCopy()
	}
	return out
}

// installFixtures installs the stand-in ServiceMonitor CRD (testdata): envtest
// has no Prometheus Operator, and config/prometheus is applied like the rest
// rather than skipped. It is the only API the tests add besides config/crd.
func installFixtures(t *testing.T) {
	t.Helper()
	objs, err := readObjects(filepath.Join("testdata", "servicemonitor-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if !isCRD(u) || !strings.HasSuffix(u.GetName(), ".monitoring.coreos.com") {
			t.Fatalf("fixture %s %s: only monitoring.coreos.com CRDs belong here", u.GetKind(), u.GetName())
		}
	}
	if _, err := apply(t.Context(), objs, applyOptions{fieldManager: "deploy-test-fixtures", force: true}); err != nil {
		t.Fatalf("install fixtures: %v", err)
	}
}

// TestRenderedConfigAppliesToAPIServer is the gate for broken overlays: each
// rendering goes to the real API server with server-side apply, CRDs and
// Namespaces for real, everything else with dryRun=All, so schema, defaulting,
// validation and admission (PodSecurity "restricted" included) all run.
func TestRenderedConfigAppliesToAPIServer(t *testing.T) {
	installFixtures(t)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			objs := mustRender(t, tg.dir)
			results, err := apply(t.Context(), objs, applyOptions{fieldManager: "deploy-test", dryRun: true, force: true})
			if err != nil {
				t.Fatalf("config/%s does not apply:\n%v", tg.dir, err)
			}
			assertNoWarnings(t, results)
			if len(results) != len(objs) {
				t.Errorf("applied %d of %d objects", len(results), len(objs))
			}
		})
	}
	t.Run("samples", func(t *testing.T) {
		// The samples need the CRDs (installed again, in case this subtest runs alone).
		if _, err := apply(t.Context(), crdsOf(mustRender(t, "crd")), applyOptions{fieldManager: "deploy-test", force: true}); err != nil {
			t.Fatal(err)
		}
		objs := mustRender(t, "samples")
		kinds := map[string]bool{}
		for _, u := range objs {
			kinds[u.GetKind()] = true
		}
		if !kinds["TenantBlueprint"] || !kinds["TenantInstallation"] {
			t.Fatalf("config/samples must hold a TenantBlueprint and a TenantInstallation, has %v", kinds)
		}
		results, err := apply(t.Context(), objs, applyOptions{fieldManager: "deploy-test", dryRun: true, force: true, defaultNamespace: "default"})
		if err != nil {
			t.Fatalf("config/samples does not apply:\n%v", err)
		}
		assertNoWarnings(t, results)
	})
}

func assertNoWarnings(t *testing.T, results []objectResult) {
	t.Helper()
	for _, r := range results {
		if len(r.warnings) > 0 {
			t.Errorf("%s %s: API server warned: %s", r.obj.GetKind(), r.obj.GetName(), strings.Join(r.warnings, "; "))
		}
	}
}

// TestRestrictedPodSecurityIsEnforced is the control for the "no warnings"
// assertion above: the same Deployment, weakened, is flagged by the API
// server's PodSecurity admission in the namespace config/ creates.
func TestRestrictedPodSecurityIsEnforced(t *testing.T) {
	tg := targets[len(targets)-1]
	objs := mustRender(t, tg.dir)
	var ns, dep *unstructured.Unstructured
	for _, u := range objs {
		switch {
		case isNamespace(u):
			ns = u
		case u.GetKind() == "Deployment":
			dep = u
		}
	}
	if ns == nil || dep == nil {
		t.Fatalf("config/%s renders no Namespace or no Deployment", tg.dir)
	}
	if _, err := apply(t.Context(), []*unstructured.Unstructured{ns}, applyOptions{fieldManager: "deploy-test", force: true}); err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	c["securityContext"] = map[string]any{"privileged": true, "allowPrivilegeEscalation": true}
	if err := unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	results, err := apply(t.Context(), []*unstructured.Unstructured{dep}, applyOptions{fieldManager: "deploy-test", dryRun: true, force: true})
	if err != nil {
		t.Fatalf("dry-run of the weakened Deployment: %v", err)
	}
	got := strings.Join(results[0].warnings, "\n")
	if !strings.Contains(got, "restricted") || !strings.Contains(got, "privileged") {
		t.Fatalf("a privileged pod template in %s drew no PodSecurity warning; got %q", tg.namespace, got)
	}
}

// TestBrokenKustomizationFails shows that the render-and-apply gate rejects
// broken configuration, both at render time and at the API server.
func TestBrokenKustomizationFails(t *testing.T) {
	cases := []struct {
		name      string
		files     map[string]string
		renderErr string // substring of the render error, or "" when it renders
		applyErr  string // substring of the apply error
	}{
		{
			name: "missing resource file",
			files: map[string]string{
				"kustomization.yaml": "resources:\n- deployment.yaml\n",
			},
			renderErr: "deployment.yaml",
		},
		{
			name: "Deployment without selector",
			files: map[string]string{
				"kustomization.yaml": "namespace: default\nresources:\n- deployment.yaml\n",
				"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
      - name: manager
        image: controller:latest
`,
			},
			applyErr: "selector",
		},
		{
			name: "TenantInstallation with an invalid tenant id",
			files: map[string]string{
				"kustomization.yaml": "namespace: default\nresources:\n- ti.yaml\n",
				"ti.yaml": `apiVersion: tenancy.tenant-operator.io/v1alpha1
kind: TenantInstallation
metadata:
  name: online-nope
spec:
  tenantID: "not a tenant"
  environment: online
`,
			},
			applyErr: "tenantID",
		},
	}
	// The TenantInstallation case needs the CRDs.
	if _, err := apply(t.Context(), crdsOf(mustRender(t, "crd")), applyOptions{fieldManager: "deploy-test", force: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			objs, err := render(dir)
			if tc.renderErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.renderErr) {
					t.Fatalf("render error = %v, want one mentioning %q", err, tc.renderErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			_, err = apply(t.Context(), objs, applyOptions{fieldManager: "deploy-test", dryRun: true, force: true})
			if err == nil || !strings.Contains(err.Error(), tc.applyErr) {
				t.Fatalf("apply error = %v, want one mentioning %q", err, tc.applyErr)
			}
		})
	}
}

func crdsOf(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if isCRD(u) {
			out = append(out, u)
		}
	}
	return out
}

// TestOverlaysRunSideBySide applies sod, stage and online to one cluster for
// real, each as its own GitOps field manager and without forcing: any object
// two overlays both set, with different content, is a server-side apply
// conflict and fails here. The shared CRDs are identical, so they are co-owned.
func TestOverlaysRunSideBySide(t *testing.T) {
	installFixtures(t)
	ctx := t.Context()

	// Statically: cluster-scoped names are distinct, CRDs identical.
	owner := map[string]string{} // cluster-scoped "Kind/name" -> overlay
	crdYAML := map[string]string{}
	for _, tg := range overlays() {
		for _, u := range mustRender(t, tg.dir) {
			if !isClusterScoped(t, u) {
				if u.GetNamespace() != tg.namespace {
					t.Errorf("%s: %s %s is in namespace %q, want %q", tg.name, u.GetKind(), u.GetName(), u.GetNamespace(), tg.namespace)
				}
				continue
			}
			key := u.GetKind() + "/" + u.GetName()
			if isCRD(u) {
				raw, err := yaml.Marshal(u.Object)
				if err != nil {
					t.Fatal(err)
				}
				if prev, ok := crdYAML[key]; ok && prev != string(raw) {
					t.Errorf("%s: CRD %s differs from the other overlays'; the CRDs must be identical", tg.name, u.GetName())
				}
				crdYAML[key] = string(raw)
				continue
			}
			if prev, ok := owner[key]; ok {
				t.Errorf("cluster-scoped %s is rendered by both %s and %s", key, prev, tg.name)
			}
			owner[key] = tg.name
			namedForEnv := strings.HasPrefix(u.GetName(), tg.prefix) || (isNamespace(u) && u.GetName() == tg.namespace)
			if !namedForEnv {
				t.Errorf("%s: cluster-scoped %s is not named %s*", tg.name, key, tg.prefix)
			}
		}
	}
	if len(crdYAML) != 2 {
		t.Errorf("want the 2 CRDs in every overlay, found %d distinct", len(crdYAML))
	}

	// On the API server: real applies, one manager per environment, no force.
	for _, tg := range overlays() {
		if _, err := apply(ctx, mustRender(t, tg.dir), applyOptions{fieldManager: "gitops-" + tg.name}); err != nil {
			t.Fatalf("applying %s beside the others: %v", tg.name, err)
		}
	}
	// Re-applying the first overlay after the others changed nothing it owns.
	first := overlays()[0]
	if _, err := apply(ctx, mustRender(t, first.dir), applyOptions{fieldManager: "gitops-" + first.name}); err != nil {
		t.Fatalf("re-applying %s after the others: %v", first.name, err)
	}

	crb := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	dep := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	for _, tg := range overlays() {
		b, err := dyn.Resource(crb).Get(ctx, tg.prefix+"manager-rolebinding", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		if len(subjects) != 1 || subjects[0].(map[string]any)["namespace"] != tg.namespace {
			t.Errorf("%s: manager-rolebinding subjects %v, want the ServiceAccount in %s", tg.name, subjects, tg.namespace)
		}
		if ref, _, _ := unstructured.NestedString(b.Object, "roleRef", "name"); ref != tg.prefix+"manager-role" {
			t.Errorf("%s: manager-rolebinding binds %q, want %q", tg.name, ref, tg.prefix+"manager-role")
		}
		d, err := dyn.Resource(dep).Namespace(tg.namespace).Get(ctx, tg.prefix+"controller-manager", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		if id := leaderElectionID(t, d); id != tg.leaderID {
			t.Errorf("%s: live Deployment has leader-election id %q, want %q", tg.name, id, tg.leaderID)
		}
	}
	for _, name := range []string{"tenantinstallations.tenancy.tenant-operator.io", "tenantblueprints.tenancy.tenant-operator.io"} {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		managers := map[string]bool{}
		for _, mf := range crd.GetManagedFields() {
			if mf.Operation == metav1.ManagedFieldsOperationApply {
				managers[mf.Manager] = true
			}
		}
		for _, tg := range overlays() {
			if !managers["gitops-"+tg.name] {
				t.Errorf("CRD %s is not co-owned by gitops-%s (apply managers: %v)", name, tg.name, managers)
			}
		}
	}

	// The control: a name two overlays shared with different content would
	// have been a conflict, which the applies above did not meet.
	online := overlays()[2]
	var binding *unstructured.Unstructured
	for _, u := range mustRender(t, online.dir) {
		if u.GetKind() == "ClusterRoleBinding" && u.GetName() == online.prefix+"manager-rolebinding" {
			binding = u
		}
	}
	if binding == nil {
		t.Fatalf("%s renders no manager-rolebinding", online.name)
	}
	binding.SetName(first.prefix + "manager-rolebinding")
	_, err := apply(ctx, []*unstructured.Unstructured{binding}, applyOptions{fieldManager: "gitops-" + online.name, dryRun: true})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "conflict") {
		t.Fatalf("a colliding ClusterRoleBinding applied without a conflict: err=%v", err)
	}
}

func isClusterScoped(t *testing.T, u *unstructured.Unstructured) bool {
	t.Helper()
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		// Before the CRDs are installed their kinds are unknown; ours and the
		// fixtures' are installed by installFixtures/apply before this runs.
		t.Fatalf("%s %s: %v", gvk.Kind, u.GetName(), err)
	}
	return m.Scope.Name() == meta.RESTScopeNameRoot
}

// TestRBACHasNoWildcards: least privilege, in every rendering (the generated
// manager role included).
func TestRBACHasNoWildcards(t *testing.T) {
	seen := 0
	for _, tg := range targets {
		for _, u := range mustRender(t, tg.dir) {
			if u.GetKind() != "Role" && u.GetKind() != "ClusterRole" {
				continue
			}
			seen++
			for _, problem := range wildcards(u) {
				t.Errorf("%s: %s %s: %s", tg.name, u.GetKind(), u.GetName(), problem)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no Role or ClusterRole rendered at all")
	}
}

// wildcards lists every "*" in a role's rules.
func wildcards(u *unstructured.Unstructured) []string {
	var out []string
	rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		for _, field := range []string{"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"} {
			vals, _, _ := unstructured.NestedStringSlice(rule, field)
			for _, v := range vals {
				if strings.Contains(v, "*") {
					out = append(out, fmt.Sprintf("rule %d: wildcard %s %q", i, field, v))
				}
			}
		}
	}
	if _, ok := u.Object["aggregationRule"]; ok {
		out = append(out, "aggregationRule: grants whatever other roles grant")
	}
	return out
}

func TestWildcards(t *testing.T) {
	role := func(rules ...map[string]any) *unstructured.Unstructured {
		rs := make([]any, len(rules))
		for i, r := range rules {
			rs[i] = r
		}
		return &unstructured.Unstructured{Object: map[string]any{"kind": "ClusterRole", "rules": rs}}
	}
	rule := func(groups, resources, verbs []any) map[string]any {
		return map[string]any{"apiGroups": groups, "resources": resources, "verbs": verbs}
	}
	cases := []struct {
		name string
		role *unstructured.Unstructured
		want int
	}{
		{"precise", role(rule([]any{"coordination.k8s.io"}, []any{"leases"}, []any{"get", "create", "update"})), 0},
		{"verb wildcard", role(rule([]any{""}, []any{"secrets"}, []any{"*"})), 1},
		{"resource wildcard", role(rule([]any{""}, []any{"*"}, []any{"get"})), 1},
		{"subresource wildcard", role(rule([]any{""}, []any{"pods/*"}, []any{"get"})), 1},
		{"group wildcard", role(rule([]any{"*"}, []any{"leases"}, []any{"get"})), 1},
		{"all three", role(rule([]any{"*"}, []any{"*"}, []any{"*"})), 3},
		{"non-resource URL", role(map[string]any{"nonResourceURLs": []any{"/metrics*"}, "verbs": []any{"get"}}), 1},
		{"aggregated", &unstructured.Unstructured{Object: map[string]any{"kind": "ClusterRole", "aggregationRule": map[string]any{}}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wildcards(tc.role); len(got) != tc.want {
				t.Errorf("wildcards = %v, want %d", got, tc.want)
			}
		})
	}
}

// TestLeaderElectionRoleIsMinimal: the hand-written role grants exactly what
// controller-runtime's lease lock and its event recorder use.
func TestLeaderElectionRoleIsMinimal(t *testing.T) {
	want := map[string][]string{
		"coordination.k8s.io/leases": {"create", "get", "update"},
		"/events":                    {"create", "patch"},
	}
	for _, tg := range targets {
		var role *unstructured.Unstructured
		for _, u := range mustRender(t, tg.dir) {
			if u.GetKind() == "Role" && u.GetName() == tg.prefix+"leader-election-role" {
				role = u
			}
		}
		if role == nil {
			t.Fatalf("%s: no %sleader-election-role", tg.name, tg.prefix)
		}
		if role.GetNamespace() != tg.namespace {
			t.Errorf("%s: leader-election-role in %q, want %q", tg.name, role.GetNamespace(), tg.namespace)
		}
		got := map[string][]string{}
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			for _, g := range groups {
				for _, res := range resources {
					got[g+"/"+res] = append(got[g+"/"+res], verbs...)
				}
			}
		}
		for k := range got {
			slices.Sort(got[k])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: leader-election-role grants %v, want %v", tg.name, got, want)
		}
	}
}

// TestDeployments checks each rendering's manager against issue 5: HA,
// probes, restricted security, its environment's config, lease and Secret.
func TestDeployments(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			checkDeployment(t, tg, mustRender(t, tg.dir))
		})
	}
	// Every instance has its own lease.
	ids := map[string]string{}
	for _, tg := range targets {
		if prev, ok := ids[tg.leaderID]; ok {
			t.Errorf("%s and %s share the leader-election id %s", prev, tg.name, tg.leaderID)
		}
		ids[tg.leaderID] = tg.name
	}
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

func byName(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

func leaderElectionID(t *testing.T, dep *unstructured.Unstructured) string {
	t.Helper()
	var ids []string
	for _, a := range containerArgs(dep) {
		if v, ok := strings.CutPrefix(a, "--leader-election-id="); ok {
			ids = append(ids, v)
		}
	}
	if len(ids) != 1 {
		t.Errorf("Deployment %s: want exactly one --leader-election-id, got %v", dep.GetName(), ids)
		return ""
	}
	return ids[0]
}

func managerContainer(dep *unstructured.Unstructured) map[string]any {
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		m := c.(map[string]any)
		if m["name"] == "manager" {
			return m
		}
	}
	return nil
}

func containerArgs(dep *unstructured.Unstructured) []string {
	c := managerContainer(dep)
	if c == nil {
		return nil
	}
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	return args
}

func checkDeployment(t *testing.T, tg target, objs []*unstructured.Unstructured) {
	deps := byKind(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deps))
	}
	dep := deps[0]
	if dep.GetNamespace() != tg.namespace || dep.GetName() != tg.prefix+"controller-manager" {
		t.Errorf("Deployment is %s/%s", dep.GetNamespace(), dep.GetName())
	}
	if r, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d, want 2", r)
	}
	podLabels, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	if tg.overlay && podLabels[v1alpha1.EnvironmentLabel] != tg.env {
		t.Errorf("pod label %s = %q, want %q", v1alpha1.EnvironmentLabel, podLabels[v1alpha1.EnvironmentLabel], tg.env)
	}
	selector, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "selector", "matchLabels")
	if !selects(selector, podLabels) {
		t.Errorf("Deployment selector %v does not select its pods %v", selector, podLabels)
	}

	c := managerContainer(dep)
	if c == nil {
		t.Fatal("no container named manager")
	}
	image, _ := c["image"].(string)
	imageOK := strings.HasPrefix(image, "controller:") || (tg.overlay && strings.Contains(image, "/tenant-operator:"))
	if !imageOK {
		t.Errorf("image %q: config/manager must use the name %q so that `kustomize edit set image controller=...` works", image, "controller")
	}
	if cmd, _, _ := unstructured.NestedStringSlice(c, "command"); !slices.Equal(cmd, []string{"/manager"}) {
		t.Errorf("command %v, want [/manager] (the Dockerfile's binary)", cmd)
	}
	args := containerArgs(dep)
	for _, want := range []string{
		"--config=/etc/tenant-operator/config.yaml",
		"--leader-elect",
		"--metrics-bind-address=:8080",
		"--health-probe-bind-address=:8081",
		"--callback-bind-address=:9443",
		"--leader-election-id=" + tg.leaderID,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	leaderElectionID(t, dep)

	// Ports, probes.
	ports := map[string]int64{}
	cports, _, _ := unstructured.NestedSlice(c, "ports")
	for _, p := range cports {
		m := p.(map[string]any)
		n, _ := m["containerPort"].(int64)
		ports[m["name"].(string)] = n
	}
	if fmt.Sprint(ports) != fmt.Sprint(map[string]int64{"callback": 9443, "health": 8081, "metrics": 8080}) {
		t.Errorf("container ports %v", ports)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		p, _, _ := unstructured.NestedString(c, probe, "httpGet", "path")
		port, _, _ := unstructured.NestedFieldNoCopy(c, probe, "httpGet", "port")
		if p != path || (port != "health" && port != int64(8081)) {
			t.Errorf("%s is %v on port %v, want %s on the probe port 8081", probe, p, port, path)
		}
	}

	// Restricted security, read-only root filesystem, resources.
	for field, want := range map[string]any{
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
		"runAsNonRoot":             true,
	} {
		if got, _, _ := unstructured.NestedFieldNoCopy(c, "securityContext", field); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", field, got, want)
		}
	}
	if drop, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "drop"); !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", drop)
	}
	if s, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "securityContext", "seccompProfile", "type"); s != "RuntimeDefault" {
		t.Errorf("pod seccompProfile = %q, want RuntimeDefault", s)
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			if v, _, _ := unstructured.NestedString(c, "resources", kind, res); v == "" {
				t.Errorf("resources.%s.%s unset", kind, res)
			}
		}
	}

	// High availability: anti-affinity on hostname, PodDisruptionBudget.
	checkAntiAffinity(t, dep, podLabels)
	pdbs := byKind(objs, "PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget, got %d", len(pdbs))
	}
	if v, _, _ := unstructured.NestedFieldNoCopy(pdbs[0].Object, "spec", "minAvailable"); v != int64(1) {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", v)
	}
	if sel, _, _ := unstructured.NestedStringMap(pdbs[0].Object, "spec", "selector", "matchLabels"); !selects(sel, podLabels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the manager pods", sel)
	}

	// Service account, bound to the manager role and the leader-election role.
	sa, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	if byName(objs, "ServiceAccount", sa) == nil {
		t.Errorf("ServiceAccount %q is not rendered", sa)
	}
	for kind, role := range map[string]string{"ClusterRoleBinding": tg.prefix + "manager-role", "RoleBinding": tg.prefix + "leader-election-role"} {
		bound := false
		for _, b := range byKind(objs, kind) {
			ref, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
			subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
			for _, s := range subjects {
				m := s.(map[string]any)
				if ref == role && m["kind"] == "ServiceAccount" && m["name"] == sa && m["namespace"] == tg.namespace {
					bound = true
				}
			}
		}
		if !bound {
			t.Errorf("no %s binds %s to %s/%s", kind, role, tg.namespace, sa)
		}
	}

	checkVolumesAndConfig(t, tg, objs, dep, c)
	checkServices(t, tg, objs, podLabels)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkAntiAffinity(t *testing.T, dep *unstructured.Unstructured, podLabels map[string]string) {
	t.Helper()
	base := []string{"spec", "template", "spec", "affinity", "podAntiAffinity"}
	var terms []map[string]any
	required, _, _ := unstructured.NestedSlice(dep.Object, append(base, "requiredDuringSchedulingIgnoredDuringExecution")...)
	for _, r := range required {
		terms = append(terms, r.(map[string]any))
	}
	preferred, _, _ := unstructured.NestedSlice(dep.Object, append(base, "preferredDuringSchedulingIgnoredDuringExecution")...)
	for _, p := range preferred {
		if term, ok := p.(map[string]any)["podAffinityTerm"].(map[string]any); ok {
			terms = append(terms, term)
		}
	}
	for _, term := range terms {
		sel, _, _ := unstructured.NestedStringMap(term, "labelSelector", "matchLabels")
		if term["topologyKey"] == "kubernetes.io/hostname" && selects(sel, podLabels) {
			return
		}
	}
	t.Errorf("no pod anti-affinity on kubernetes.io/hostname that selects the manager pods")
}

// secretFiles are the keys of the per-environment Secret (docs/operations.md).
var secretFiles = map[string]string{
	"clientSecretFile":  "/etc/tenant-operator/secrets/client-secret",
	"appPrivateKeyFile": "/etc/tenant-operator/secrets/app-private-key.pem",
	"sessionKeyFile":    "/etc/tenant-operator/secrets/session-key",
}

func checkVolumesAndConfig(t *testing.T, tg target, objs []*unstructured.Unstructured, dep *unstructured.Unstructured, c map[string]any) {
	t.Helper()
	volumes, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	vols := map[string]map[string]any{}
	for _, v := range volumes {
		m := v.(map[string]any)
		vols[m["name"].(string)] = m
	}
	mounts := map[string]string{}
	vms, _, _ := unstructured.NestedSlice(c, "volumeMounts")
	for _, vm := range vms {
		m := vm.(map[string]any)
		mounts[m["name"].(string)] = m["mountPath"].(string)
	}
	if mounts["config"] != "/etc/tenant-operator/config.yaml" || mounts["secrets"] != "/etc/tenant-operator/secrets" {
		t.Errorf("mounts %v: want config at /etc/tenant-operator/config.yaml and secrets at /etc/tenant-operator/secrets", mounts)
	}

	// The Secret is referenced, never rendered (never committed).
	secretName, _, _ := unstructured.NestedString(vols["secrets"], "secret", "secretName")
	if tg.overlay && secretName != tg.prefix+"superoffice" {
		t.Errorf("secrets volume uses Secret %q, want %q", secretName, tg.prefix+"superoffice")
	}
	if secretName == "" || byName(objs, "Secret", secretName) != nil {
		t.Errorf("Secret %q must be referenced and not rendered", secretName)
	}

	// The configuration: this environment's, and valid for internal/config.
	cmName, _, _ := unstructured.NestedString(vols["config"], "configMap", "name")
	cm := byName(objs, "ConfigMap", cmName)
	if cm == nil {
		t.Fatalf("config volume refers to ConfigMap %q, which is not rendered", cmName)
	}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	var cfg config.Config
	if err := yaml.UnmarshalStrict([]byte(raw), &cfg); err != nil {
		t.Fatalf("config.yaml does not match internal/config: %v", err)
	}
	if cfg.Environment.Name != tg.env {
		t.Errorf("config environment.name = %q, want %q", cfg.Environment.Name, tg.env)
	}
	if cfg.Callback.Namespace != tg.namespace {
		t.Errorf("config callback.namespace = %q, want the manager's namespace %q", cfg.Callback.Namespace, tg.namespace)
	}
	for field, got := range map[string]*string{
		"clientSecretFile":  &cfg.Environment.ClientSecretFile,
		"appPrivateKeyFile": &cfg.Environment.AppPrivateKeyFile,
		"sessionKeyFile":    &cfg.SessionKeyFile,
	} {
		if *got != secretFiles[field] {
			t.Errorf("config %s = %q, want %q (the mounted Secret)", field, *got, secretFiles[field])
		}
	}
	// Full validation, with stand-in secret files at the configured names.
	dir := t.TempDir()
	cfg.Environment.ClientSecretFile = writeFile(t, dir, "client-secret", []byte("client-secret-for-test\n"))
	cfg.SessionKeyFile = writeFile(t, dir, "session-key", []byte(strings.Repeat("k", config.MinSessionKeyBytes)))
	cfg.Environment.AppPrivateKeyFile = writeFile(t, dir, "app-private-key.pem", testKeyPEM(t))
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("config.yaml of %s is not valid: %v", tg.name, err)
	}

	// The public URLs in the config are the Ingress host's.
	ingresses := byKind(objs, "Ingress")
	if len(ingresses) != 1 {
		t.Fatalf("want one Ingress, got %d", len(ingresses))
	}
	var host string
	rules, _, _ := unstructured.NestedSlice(ingresses[0].Object, "spec", "rules")
	if len(rules) == 1 {
		host, _ = rules[0].(map[string]any)["host"].(string)
	}
	if host == "" {
		t.Fatalf("the Ingress must have one rule with a host, has %v", rules)
	}
	tls, _, _ := unstructured.NestedSlice(ingresses[0].Object, "spec", "tls")
	if len(tls) != 1 || !slices.Contains(toStrings(tls[0].(map[string]any)["hosts"]), host) {
		t.Errorf("Ingress TLS %v does not cover host %q", tls, host)
	}
	for field, raw := range map[string]string{"environment.redirectURL": cfg.Environment.RedirectURL, "webhookBaseURL": cfg.WebhookBaseURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host != host {
			t.Errorf("config %s = %q, want https on the Ingress host %q", field, raw, host)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func checkServices(t *testing.T, tg target, objs []*unstructured.Unstructured, podLabels map[string]string) {
	t.Helper()
	ports := func(svc *unstructured.Unstructured) map[string]string {
		out := map[string]string{}
		list, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		for _, p := range list {
			m := p.(map[string]any)
			out[m["name"].(string)] = fmt.Sprintf("%v->%v", m["port"], m["targetPort"])
		}
		return out
	}
	for name, want := range map[string]string{"callback": "8443->callback", "metrics": "8080->metrics"} {
		svc := byName(objs, "Service", tg.prefix+name)
		if svc == nil {
			t.Errorf("no Service %s%s", tg.prefix, name)
			continue
		}
		if got := ports(svc); len(got) != 1 || got[name] != want {
			t.Errorf("Service %s ports %v, want %s %s", svc.GetName(), got, name, want)
		}
		if sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector"); !selects(sel, podLabels) {
			t.Errorf("Service %s selector %v does not select the manager pods", svc.GetName(), sel)
		}
	}
	// The Ingress routes to the callback Service.
	ing := byKind(objs, "Ingress")[0]
	ingRules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	rule := ingRules[0].(map[string]any)
	httpPaths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
	svcName, _, _ := unstructured.NestedString(httpPaths[0].(map[string]any), "backend", "service", "name")
	svcPort, _, _ := unstructured.NestedString(httpPaths[0].(map[string]any), "backend", "service", "port", "name")
	if svcName != tg.prefix+"callback" || svcPort != "callback" {
		t.Errorf("Ingress routes to %s:%s, want %scallback:callback", svcName, svcPort, tg.prefix)
	}

	// The ServiceMonitor scrapes the metrics Service.
	sms := byKind(objs, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(sms))
	}
	metricsSvc := byName(objs, "Service", tg.prefix+"metrics")
	smSel, _, _ := unstructured.NestedStringMap(sms[0].Object, "spec", "selector", "matchLabels")
	callbackSvc := byName(objs, "Service", tg.prefix+"callback")
	if metricsSvc != nil && !selects(smSel, metricsSvc.GetLabels()) {
		t.Errorf("ServiceMonitor selector %v does not select Service %s", smSel, metricsSvc.GetName())
	}
	if callbackSvc != nil && selects(smSel, callbackSvc.GetLabels()) {
		t.Errorf("ServiceMonitor selector %v also selects the callback Service", smSel)
	}

	// Network policies: the callback port from anywhere, metrics from
	// monitoring namespaces only, nothing else.
	allowed := map[string]string{} // port -> "anywhere" | "namespaces"
	for _, np := range byKind(objs, "NetworkPolicy") {
		if sel, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels"); !selects(sel, podLabels) {
			t.Errorf("NetworkPolicy %s does not select the manager pods", np.GetName())
		}
		ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
		for _, in := range ingress {
			m := in.(map[string]any)
			from, _ := m["from"].([]any)
			source := "anywhere"
			for _, f := range from {
				peer := f.(map[string]any)
				if _, ok := peer["namespaceSelector"]; ok && peer["podSelector"] == nil && peer["ipBlock"] == nil {
					source = "namespaces"
				} else {
					source = "other"
				}
			}
			ps, _ := m["ports"].([]any)
			if len(ps) == 0 {
				allowed["all ports"] = source
			}
			for _, p := range ps {
				allowed[fmt.Sprint(p.(map[string]any)["port"])] = source
			}
		}
	}
	if fmt.Sprint(allowed) != fmt.Sprint(map[string]string{"callback": "anywhere", "metrics": "namespaces"}) {
		t.Errorf("NetworkPolicies allow %v, want callback from anywhere and metrics from monitoring namespaces", allowed)
	}
}

func writeFile(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	keyOnce sync.Once
	keyPEM  []byte
)

// testKeyPEM is a real 2048-bit RSA key, made once per run.
func testKeyPEM(t *testing.T) []byte {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	})
	return keyPEM
}

// TestNoSecretsCommitted: no Secret object anywhere under config/, and none in
// any rendering; the Deployments only reference Secrets made out of band.
func TestNoSecretsCommitted(t *testing.T) {
	files := 0
	err := filepath.WalkDir(configDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		files++
		objs, err := readObjects(path)
		if err != nil {
			return err
		}
		for _, u := range objs {
			if u.GetKind() == "Secret" {
				t.Errorf("%s holds a Secret %q: secrets are never committed", path, u.GetName())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("walked only %d YAML files under %s", files, configDir)
	}
	for _, tg := range append(targets, target{name: "samples", dir: "samples"}) {
		if s := byKind(mustRender(t, tg.dir), "Secret"); len(s) > 0 {
			t.Errorf("config/%s renders %d Secret(s)", tg.dir, len(s))
		}
	}
}

// TestSampleBlueprintUsesEveryArtifactKind: config/samples is the tour of
// what can be provisioned, so it must show every kind.
func TestSampleBlueprintUsesEveryArtifactKind(t *testing.T) {
	bp := byName(mustRender(t, "samples"), "TenantBlueprint", v1alpha1.DefaultBlueprint)
	if bp == nil {
		t.Fatalf("config/samples has no TenantBlueprint %q", v1alpha1.DefaultBlueprint)
	}
	for _, path := range [][]string{
		{"spec", "kubernetes", "namespaceTemplate"},
		{"spec", "kubernetes", "resourceQuota"},
		{"spec", "kubernetes", "limitRange"},
		{"spec", "kubernetes", "networkIsolation"},
		{"spec", "kubernetes", "extraManifests"},
		{"spec", "superOffice", "webPanels"},
		{"spec", "superOffice", "userDefinedFields"},
		{"spec", "superOffice", "buttons"},
		{"spec", "superOffice", "preferences"},
		{"spec", "superOffice", "webhooks"},
	} {
		v, found, _ := unstructured.NestedFieldNoCopy(bp.Object, path...)
		if !found || v == nil || fmt.Sprint(v) == "[]" || fmt.Sprint(v) == "map[]" || v == false {
			t.Errorf("the sample blueprint does not use %s", strings.Join(path, "."))
		}
	}
	extra, _, _ := unstructured.NestedStringSlice(bp.Object, "spec", "kubernetes", "extraManifests")
	if !slices.ContainsFunc(extra, func(s string) bool { return strings.Contains(s, "kind: ConfigMap") }) {
		t.Errorf("the sample blueprint's extraManifests hold no ConfigMap")
	}
}

// TestDockerfileMatchesDeployment: no container engine runs here, so at least
// hold the Dockerfile to what the Deployment expects of the image (binary
// path, non-root user, ports) and to the static, distroless build.
func TestDockerfileMatchesDeployment(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, copies, exposed []string
	var user, entrypoint string
	cgoOff := false
	for line := range strings.SplitSeq(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, fields[1])
		case "COPY":
			copies = append(copies, strings.Join(fields[1:], " "))
		case "USER":
			user = fields[1]
		case "EXPOSE":
			exposed = append(exposed, fields[1:]...)
		case "ENTRYPOINT":
			entrypoint = strings.Join(fields[1:], " ")
		}
		if strings.Contains(line, "CGO_ENABLED=0") {
			cgoOff = true
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:1.26") || froms[1] != "gcr.io/distroless/static:nonroot" {
		t.Errorf("FROM %v: want a golang:1.26 builder and gcr.io/distroless/static:nonroot", froms)
	}
	if !cgoOff {
		t.Error("the build must set CGO_ENABLED=0 (static binary on distroless/static)")
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532 (the Deployment's runAsUser)", user)
	}
	dep := byKind(mustRender(t, "default"), "Deployment")[0]
	c := managerContainer(dep)
	cmd, _, _ := unstructured.NestedStringSlice(c, "command")
	if entrypoint != `["`+cmd[0]+`"]` || !slices.ContainsFunc(copies, func(s string) bool { return strings.HasSuffix(s, " "+cmd[0]) }) {
		t.Errorf("ENTRYPOINT %s / COPY %v do not provide the Deployment's command %v", entrypoint, copies, cmd)
	}
	ports, _, _ := unstructured.NestedSlice(c, "ports")
	for _, p := range ports {
		n := fmt.Sprint(p.(map[string]any)["containerPort"])
		if !slices.Contains(exposed, n) {
			t.Errorf("container port %s is not EXPOSEd in the Dockerfile (%v)", n, exposed)
		}
	}
	// .dockerignore is an allowlist: what is copied must be let in.
	ignore, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"api/", "cmd/", "controllers/", "internal/"} {
		if !slices.ContainsFunc(copies, func(s string) bool { return strings.HasPrefix(s, dir+" ") }) {
			t.Errorf("the Dockerfile does not COPY %s, which ./cmd/manager is built from", dir)
		}
		if !slices.Contains(strings.Fields(string(ignore)), "!"+dir+"**") {
			t.Errorf(".dockerignore does not let %s into the build context", dir)
		}
	}
}

// TestSampleBlueprintRendersAndIsPermitted renders the sample blueprint for
// the sample installation with the operator's own renderer, dry-runs every
// Kubernetes object it yields, and checks that the manager's ClusterRole
// (generated from the RBAC markers) lets the manager create, read, update and
// delete each of them: a blueprint the manager may not apply would fail only
// in production.
func TestSampleBlueprintRendersAndIsPermitted(t *testing.T) {
	ctx := t.Context()
	samples := mustRender(t, "samples")
	var bp v1alpha1.TenantBlueprint
	var ti v1alpha1.TenantInstallation
	for _, pair := range []struct {
		kind string
		into any
	}{{"TenantBlueprint", &bp}, {"TenantInstallation", &ti}} {
		u := byKind(samples, pair.kind)
		if len(u) != 1 {
			t.Fatalf("config/samples: want one %s, got %d", pair.kind, len(u))
		}
		raw, err := u[0].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(raw, pair.into); err != nil {
			t.Fatalf("config/samples %s does not match the API types: %v", pair.kind, err)
		}
	}
	ti.Namespace = "tenant-operator-online"

	if _, err := apply(ctx, crdsOf(mustRender(t, "crd")), applyOptions{fieldManager: "deploy-test", force: true}); err != nil {
		t.Fatal(err)
	}
	rendered, err := blueprint.Renderer{Mapper: mapper, AppName: "Tenant Operator"}.Render(&bp, &ti)
	if err != nil {
		t.Fatalf("the sample blueprint does not render for the sample installation: %v", err)
	}
	if len(rendered.Objects) == 0 || len(rendered.SuperOffice.WebPanels) == 0 {
		t.Fatalf("rendered %d Kubernetes objects and %d web panels", len(rendered.Objects), len(rendered.SuperOffice.WebPanels))
	}
	results, err := apply(ctx, rendered.Objects, applyOptions{fieldManager: "deploy-test", dryRun: true, force: true})
	if err != nil {
		t.Fatalf("the sample blueprint's objects do not apply: %v", err)
	}
	assertNoWarnings(t, results)

	role := byName(mustRender(t, "overlays/online"), "ClusterRole", "tenant-operator-online-manager-role")
	if role == nil {
		t.Fatal("overlays/online renders no manager-role")
	}
	for _, u := range rendered.Objects {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"get", "list", "watch", "create", "patch", "delete"} {
			if !allows(role, m.Resource.Group, m.Resource.Resource, verb) {
				t.Errorf("the manager role does not allow %s on %s (the sample blueprint makes a %s)", verb, m.Resource.GroupResource(), gvk.Kind)
			}
		}
	}
}

// allows reports whether a role's rules grant verb on group/resource.
func allows(role *unstructured.Unstructured, group, resource, verb string) bool {
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		rule := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
		if _, named := rule["resourceNames"]; named {
			continue
		}
		if slices.Contains(groups, group) && slices.Contains(resources, resource) && slices.Contains(verbs, verb) {
			return true
		}
	}
	return false
}
