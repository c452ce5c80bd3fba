package blueprint

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

var testMapper = NewStaticMapper()

func testRenderer() Renderer { return Renderer{Mapper: testMapper, AppName: "Acme App"} }

func testInstallation() *tenancyv1alpha1.TenantInstallation {
	ti := &tenancyv1alpha1.TenantInstallation{}
	ti.Name = "online-cust12345"
	ti.Namespace = "tenant-operator-system"
	ti.Spec.TenantID = "Cust12345"
	ti.Spec.Environment = "online"
	ti.Spec.Endpoints.WebAPIURL = "https://online3.superoffice.com/Cust12345/api/"
	ti.Spec.Endpoints.NetServerURL = "https://online3.superoffice.com/Cust12345/Remote/Services88/"
	return ti
}

func blueprintWith(mutate func(*tenancyv1alpha1.TenantBlueprintSpec)) *tenancyv1alpha1.TenantBlueprint {
	bp := &tenancyv1alpha1.TenantBlueprint{}
	bp.Name = "default"
	if mutate != nil {
		mutate(&bp.Spec)
	}
	return bp
}

const tenantNS = "tenant-online-cust12345"

var wantLabels = map[string]string{
	"app.kubernetes.io/managed-by":            "tenant-operator",
	"tenancy.tenant-operator.io/installation": "tenant-operator-system.online-cust12345",
	"tenancy.tenant-operator.io/environment":  "online",
}

// summary lists objects as "apiVersion Kind namespace/name" for order checks.
func summary(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s %s %s/%s", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()))
	}
	return out
}

// checkClean asserts the invariants every rendered object has.
func checkClean(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for i, o := range objs {
		if o.GetAPIVersion() == "" || o.GetKind() == "" {
			t.Errorf("object %d has no apiVersion/kind: %v", i, o.Object)
		}
		for k, v := range wantLabels {
			if got := o.GetLabels()[k]; got != v {
				t.Errorf("%s %s: label %s = %q, want %q", o.GetKind(), o.GetName(), k, got, v)
			}
		}
		if _, ok := o.Object["status"]; ok {
			t.Errorf("%s %s carries a status field", o.GetKind(), o.GetName())
		}
		if _, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "metadata", "creationTimestamp"); ok {
			t.Errorf("%s %s carries metadata.creationTimestamp", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "Namespace" {
			if i != 0 || o.GetNamespace() != "" {
				t.Errorf("the Namespace must come first and be cluster-scoped, got index %d namespace %q", i, o.GetNamespace())
			}
		} else if o.GetNamespace() != tenantNS {
			t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), tenantNS)
		}
	}
}

func TestRenderDefaultBlueprint(t *testing.T) {
	got, err := testRenderer().Render(blueprintWith(nil), testInstallation())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got.Namespace != tenantNS {
		t.Errorf("Namespace = %q, want %q", got.Namespace, tenantNS)
	}
	want := []string{
		"v1 Namespace /" + tenantNS,
		"networking.k8s.io/v1 NetworkPolicy " + tenantNS + "/tenant-isolation",
		"v1 ServiceAccount " + tenantNS + "/tenant-app",
		"v1 ConfigMap " + tenantNS + "/tenant-values",
	}
	if s := summary(got.Objects); !reflect.DeepEqual(s, want) {
		t.Fatalf("objects:\n got %q\nwant %q", s, want)
	}
	checkClean(t, got.Objects)

	np := got.Objects[1].Object["spec"]
	wantNP := map[string]any{
		"podSelector": map[string]any{},
		"policyTypes": []any{"Ingress"},
		"ingress": []any{map[string]any{
			"from": []any{map[string]any{
				"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": tenantNS}},
			}},
		}},
	}
	if !reflect.DeepEqual(np, wantNP) {
		t.Errorf("NetworkPolicy spec:\n got %#v\nwant %#v", np, wantNP)
	}

	data, _, _ := unstructured.NestedStringMap(got.Objects[3].Object, "data")
	wantData := map[string]string{
		"tenantID":     "Cust12345",
		"environment":  "online",
		"webAPIURL":    "https://online3.superoffice.com/Cust12345/api/",
		"netServerURL": "https://online3.superoffice.com/Cust12345/Remote/Services88/",
		"installation": "tenant-operator-system.online-cust12345",
	}
	if !reflect.DeepEqual(data, wantData) {
		t.Errorf("ConfigMap data = %v, want %v", data, wantData)
	}
	if _, ok := got.Objects[0].Object["spec"]; ok {
		t.Errorf("Namespace carries an empty spec: %v", got.Objects[0].Object)
	}
}

func TestRenderToggles(t *testing.T) {
	off := false
	on := true
	quota := corev1.ResourceList{corev1.ResourcePods: resource.MustParse("20"), corev1.ResourceLimitsMemory: resource.MustParse("4Gi")}
	limits := []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}}
	cases := []struct {
		name   string
		mutate func(*tenancyv1alpha1.KubernetesBlueprint)
		kinds  []string
	}{
		{"defaults", nil, []string{"Namespace", "NetworkPolicy", "ServiceAccount", "ConfigMap"}},
		{"isolation explicitly on", func(k *tenancyv1alpha1.KubernetesBlueprint) { k.NetworkIsolation = &on },
			[]string{"Namespace", "NetworkPolicy", "ServiceAccount", "ConfigMap"}},
		{"isolation off", func(k *tenancyv1alpha1.KubernetesBlueprint) { k.NetworkIsolation = &off },
			[]string{"Namespace", "ServiceAccount", "ConfigMap"}},
		{"quota", func(k *tenancyv1alpha1.KubernetesBlueprint) { k.ResourceQuota = quota },
			[]string{"Namespace", "ResourceQuota", "NetworkPolicy", "ServiceAccount", "ConfigMap"}},
		{"empty quota is no quota", func(k *tenancyv1alpha1.KubernetesBlueprint) { k.ResourceQuota = corev1.ResourceList{} },
			[]string{"Namespace", "NetworkPolicy", "ServiceAccount", "ConfigMap"}},
		{"limit range", func(k *tenancyv1alpha1.KubernetesBlueprint) { k.LimitRange = limits },
			[]string{"Namespace", "LimitRange", "NetworkPolicy", "ServiceAccount", "ConfigMap"}},
		{"everything", func(k *tenancyv1alpha1.KubernetesBlueprint) {
			k.ResourceQuota = quota
			k.LimitRange = limits
			k.ExtraManifests = []string{"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n"}
		}, []string{"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount", "ConfigMap", "Service"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) {
				if tc.mutate != nil {
					tc.mutate(&s.Kubernetes)
				}
			})
			got, err := testRenderer().Render(bp, testInstallation())
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var kinds []string
			for _, o := range got.Objects {
				kinds = append(kinds, o.GetKind())
			}
			if !reflect.DeepEqual(kinds, tc.kinds) {
				t.Fatalf("kinds = %v, want %v", kinds, tc.kinds)
			}
			checkClean(t, got.Objects)
			for _, o := range got.Objects {
				switch o.GetKind() {
				case "ResourceQuota":
					hard, _, _ := unstructured.NestedStringMap(o.Object, "spec", "hard")
					if want := map[string]string{"pods": "20", "limits.memory": "4Gi"}; o.GetName() != "tenant-quota" || !reflect.DeepEqual(hard, want) {
						t.Errorf("ResourceQuota %s hard = %v, want %v", o.GetName(), hard, want)
					}
				case "LimitRange":
					l, _, _ := unstructured.NestedSlice(o.Object, "spec", "limits")
					if o.GetName() != "tenant-limits" || len(l) != 1 {
						t.Fatalf("LimitRange %s limits = %v", o.GetName(), l)
					}
					def, _, _ := unstructured.NestedStringMap(l[0].(map[string]any), "default")
					if def["memory"] != "256Mi" {
						t.Errorf("LimitRange default = %v", def)
					}
				}
			}
		})
	}
}

func TestRenderExtraManifests(t *testing.T) {
	manifests := []string{
		// Templated ConfigMap with its own labels and a copied-in status.
		`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{{ .TenantIDLower }}
  labels:
    team: integrations
    app.kubernetes.io/managed-by: someone-else
  resourceVersion: "42"
data:
  tenant: {{ quote .TenantID }}
  env: {{ .Environment | upper }}
  api: {{ .WebAPIURL }}
  region: {{ default "eu" "" }}
  ns: {{ .Namespace }}
status: {}
`,
		// Explicit namespace equal to the tenant's is fine.
		`---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: {{ .Namespace }}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: "example.invalid/app:1"}]
`,
		// A Secret is allowed; a ConfigMap may share a name with an object of another kind.
		"apiVersion: v1\nkind: Secret\nmetadata: {name: tenant-values}\nstringData: {a: b}\n",
	}
	bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) { s.Kubernetes.ExtraManifests = manifests })
	got, err := testRenderer().Render(bp, testInstallation())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	checkClean(t, got.Objects)
	extras := got.Objects[4:]
	want := []string{
		"v1 ConfigMap " + tenantNS + "/settings-cust12345",
		"apps/v1 Deployment " + tenantNS + "/app",
		"v1 Secret " + tenantNS + "/tenant-values",
	}
	if s := summary(extras); !reflect.DeepEqual(s, want) {
		t.Fatalf("extras:\n got %q\nwant %q", s, want)
	}
	cm := extras[0]
	if cm.GetLabels()["team"] != "integrations" {
		t.Errorf("own label dropped: %v", cm.GetLabels())
	}
	if cm.GetResourceVersion() != "" {
		t.Errorf("server field resourceVersion kept: %q", cm.GetResourceVersion())
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	wantData := map[string]string{"tenant": "Cust12345", "env": "ONLINE", "api": "https://online3.superoffice.com/Cust12345/api/", "region": "eu", "ns": tenantNS}
	if !reflect.DeepEqual(data, wantData) {
		t.Errorf("data = %v, want %v", data, wantData)
	}
	if r, _, _ := unstructured.NestedInt64(extras[1].Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d, want 2 (an int64, as unstructured objects need)", r)
	}
}

// wantInvalid asserts err is an *InvalidError with one error per entry of
// want (path, and a substring of the message).
func wantInvalid(t *testing.T, err error, want ...[2]string) {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
	}
	if len(ie.Errs) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(ie.Errs), len(want), err)
	}
	msg := err.Error()
	for _, w := range want {
		found := false
		for _, fe := range ie.Errs {
			if fe.Field == w[0] && strings.Contains(fe.Error(), w[1]) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem at %s mentioning %q in %v", w[0], w[1], err)
		}
		if !strings.Contains(msg, w[0]) {
			t.Errorf("message does not name %s: %s", w[0], msg)
		}
	}
}

func TestRenderInvalid(t *testing.T) {
	const em0 = "spec.kubernetes.extraManifests[0]"
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	}
	bigOutput := `{{ $x := "` + strings.Repeat("a", 1024) + `" }}` + strings.Repeat("{{ $x }}", 300)
	cases := []struct {
		name   string
		mutate func(*tenancyv1alpha1.TenantBlueprintSpec)
		want   [][2]string
	}{
		{"bad template syntax", extra("kind: {{ .TenantID"), [][2]string{{em0, "does not parse"}}},
		{"missing key", extra(cm("x-{{ .Nope }}")), [][2]string{{em0, "Nope"}}},
		{"unknown kind", extra("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"), [][2]string{{em0 + ".kind", "unknown kind"}}},
		{"kind known in another version only", extra("apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: w}\n"), [][2]string{{em0 + ".kind", "unknown kind"}}},
		{"other namespace", extra(cm("x") + "  namespace: kube-system\n"), [][2]string{{em0 + ".metadata.namespace", "aimed at another namespace"}}},
		{"cluster-scoped ClusterRole", extra("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: admin}\n"), [][2]string{{em0 + ".kind", "cluster-scoped"}}},
		{"namespace in extra manifests", extra("apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n"), [][2]string{{em0 + ".kind", "cluster-scoped"}}},
		{"multiple documents", extra(cm("a") + "---\n" + cm("b")), [][2]string{{em0, "2 YAML documents"}}},
		{"document hidden after a bare separator value", extra(cm("a") + "--- b\n"), [][2]string{{em0, "separator"}}},
		{"empty manifest", extra("# nothing here\n"), [][2]string{{em0, "empty"}}},
		{"not YAML", extra("apiVersion: v1\nkind: [ConfigMap\n"), [][2]string{{em0, "not YAML"}}},
		{"a scalar, not an object", extra("just some text"), [][2]string{{em0, "mapping"}}},
		{"a list, not an object", extra("- a\n- b\n"), [][2]string{{em0, "mapping"}}},
		{"missing name", extra("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n"), [][2]string{{em0, "metadata.name is missing"}}},
		{"missing apiVersion and kind", extra("metadata: {name: a}\n"), [][2]string{{em0, "apiVersion is missing; kind is missing"}}},
		{"invalid object name", extra(cm("Not_Valid")), [][2]string{{em0, "not a valid name"}}},
		{"labels not strings", extra(cm("a") + "  labels: {a: [1]}\n"), [][2]string{{em0, "labels"}}},
		{"duplicate extra manifests", extra(cm("a"), cm("b"), cm("a")), [][2]string{{"spec.kubernetes.extraManifests[2].metadata.name", "already defined by spec.kubernetes.extraManifests[0]"}}},
		{"duplicate across API versions", extra("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n"),
			[][2]string{{"spec.kubernetes.extraManifests[1].metadata.name", "duplicate"}}},
		{"redefines a built-in", extra(cm("tenant-values")), [][2]string{{em0 + ".metadata.name", "built-in"}}},
		{"redefines a built-in that is turned off", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			off := false
			s.Kubernetes.NetworkIsolation = &off
			s.Kubernetes.ExtraManifests = []string{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: tenant-isolation}\n"}
		}, [][2]string{{em0 + ".metadata.name", "built-in"}}},
		{"manifest too large", extra(cm("a") + "data:\n  x: " + strings.Repeat("y", MaxManifestBytes) + "\n"), [][2]string{{em0, "at most 65536"}}},
		{"template output too large", extra(bigOutput), [][2]string{{em0, "exceeds"}}},
		{"range refused", extra(cm("a") + "{{ range 1000000000 }}{{ end }}"), [][2]string{{em0, "range is not supported"}}},
		{"define refused", extra(`{{ define "x" }}a{{ end }}` + cm("a")), [][2]string{{em0, "define"}}},
		{"template call refused", extra(cm("a") + `{{ template "x" }}`), [][2]string{{em0, "template calls"}}},
		{"huge printf width refused", extra(cm(`{{ printf "%099999999d" 1 }}`)), [][2]string{{em0, "too large"}}},
		{"printf star width refused", extra(cm(`{{ printf "%*d" 100000000 1 }}`)), [][2]string{{em0, "'*'"}}},
		{"nested escapers bounded", extra(cm(nestedEscapers(12))), [][2]string{{em0, "exceeds"}}},
		{"too many manifests", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			for i := range MaxExtraManifests + 1 {
				s.Kubernetes.ExtraManifests = append(s.Kubernetes.ExtraManifests, cm(fmt.Sprintf("c%d", i)))
			}
		}, [][2]string{{"spec.kubernetes.extraManifests", "must have at most 50"}}},
		{"invalid namespace name", nsTemplate("Tenant_{{ .TenantID }}"), [][2]string{{"spec.kubernetes.namespaceTemplate", "not a valid namespace name"}}},
		{"namespace name too long", nsTemplate("{{ .WebAPIURL }}"), [][2]string{{"spec.kubernetes.namespaceTemplate", "not a valid namespace name"}}},
		{"namespace template uses itself", nsTemplate("t-{{ .Namespace }}x"), [][2]string{{"spec.kubernetes.namespaceTemplate", "must not use .Namespace"}}},
		{"namespace template bad syntax", nsTemplate("{{ .Environment "), [][2]string{{"spec.kubernetes.namespaceTemplate", "does not parse"}}},
		{"namespace template missing field", nsTemplate("t-{{ .Region }}"), [][2]string{{"spec.kubernetes.namespaceTemplate", "Region"}}},
		{"web panel relative URL", panel("p", "/app/{{ .TenantID }}"), [][2]string{{"spec.superOffice.webPanels[0].url", "absolute http(s) URL"}}},
		{"web panel non-http URL", panel("p", "javascript:alert(1)"), [][2]string{{"spec.superOffice.webPanels[0].url", "absolute http(s) URL"}}},
		{"web panel URL with credentials", panel("p", "https://user:pw@example.com/"), [][2]string{{"spec.superOffice.webPanels[0].url", "credentials"}}},
		{"web panel missing key", panel("p", "https://example.com/{{ .Tenant }}"), [][2]string{{"spec.superOffice.webPanels[0].url", "Tenant"}}},
		{"duplicate web panels", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.WebPanels = []tenancyv1alpha1.WebPanel{
				{Name: "p", URL: "https://example.com/a", VisibleIn: "ContactArchive"},
				{Name: "p", URL: "https://example.com/b", VisibleIn: "PersonArchive"},
			}
		}, [][2]string{{"spec.superOffice.webPanels[1].name", "already used by spec.superOffice.webPanels[0]"}}},
		{"duplicate progIDs", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.UserDefinedFields = []tenancyv1alpha1.UserDefinedField{
				{Entity: "Contact", ProgID: "SuperOffice:1", Label: "a", Type: "ShortText"},
				{Entity: "Person", ProgID: "SuperOffice:1", Label: "b", Type: "Number"},
			}
		}, [][2]string{{"spec.superOffice.userDefinedFields[1].progID", "duplicate"}}},
		{"duplicate buttons", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.Buttons = []tenancyv1alpha1.Button{
				{Name: "b", Location: "Contact", URL: "https://example.com/a"},
				{Name: "b", Location: "Sale", URL: "ftp://example.com/b"},
			}
		}, [][2]string{{"spec.superOffice.buttons[1].name", "duplicate"}, {"spec.superOffice.buttons[1].url", "absolute http(s) URL"}}},
		{"duplicate preferences", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.Preferences = []tenancyv1alpha1.Preference{
				{Section: "s", Key: "k", Value: "1"},
				{Section: "s", Key: "k", Value: "2", Level: "Database"},
				{Section: "s", Key: "k", Value: "3", Level: "System"},
			}
		}, [][2]string{{"spec.superOffice.preferences[1]", "duplicate"}}},
		{"preference value missing key", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.Preferences = []tenancyv1alpha1.Preference{{Section: "s", Key: "k", Value: "{{ .Secret }}"}}
		}, [][2]string{{"spec.superOffice.preferences[0].value", "Secret"}}},
		{"webhook without events", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.Webhooks = []tenancyv1alpha1.Webhook{{Name: "w"}}
		}, [][2]string{{"spec.superOffice.webhooks[0].events", "Required"}}},
		{"webhook with an empty event and a bad target", func(s *tenancyv1alpha1.TenantBlueprintSpec) {
			s.SuperOffice.Webhooks = []tenancyv1alpha1.Webhook{{Name: "w", Events: []string{"contact.created", " "}, TargetURL: "{{ .Name }}"}}
		}, [][2]string{{"spec.superOffice.webhooks[0].events[1]", "Required"}, {"spec.superOffice.webhooks[0].targetURL", "absolute http(s) URL"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bp := blueprintWith(tc.mutate)
			got, err := testRenderer().Render(bp, testInstallation())
			if got != nil {
				t.Errorf("Render returned objects with an error: %v", summary(got.Objects))
			}
			wantInvalid(t, err, tc.want...)
			// Validate sees the same problems without an installation.
			wantInvalid(t, testRenderer().Validate(bp), tc.want...)
		})
	}
}

func extra(manifests ...string) func(*tenancyv1alpha1.TenantBlueprintSpec) {
	return func(s *tenancyv1alpha1.TenantBlueprintSpec) { s.Kubernetes.ExtraManifests = manifests }
}

func nsTemplate(tmpl string) func(*tenancyv1alpha1.TenantBlueprintSpec) {
	return func(s *tenancyv1alpha1.TenantBlueprintSpec) { s.Kubernetes.NamespaceTemplate = tmpl }
}

func panel(name, url string) func(*tenancyv1alpha1.TenantBlueprintSpec) {
	return func(s *tenancyv1alpha1.TenantBlueprintSpec) {
		s.SuperOffice.WebPanels = []tenancyv1alpha1.WebPanel{{Name: name, URL: url, VisibleIn: "ContactArchive"}}
	}
}

// nestedEscapers nests js and quote escapes, each of which doubles every
// backslash: unbounded, the output would grow twofold per level.
func nestedEscapers(depth int) string {
	return "{{ " + strings.Repeat("(js (quote ", depth) + "`\\\\\\\\`" + strings.Repeat("))", depth) + " }}"
}

func TestValidateReportsAllProblems(t *testing.T) {
	bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) {
		s.Kubernetes.NamespaceTemplate = "UPPER-{{ .TenantID }}"
		s.Kubernetes.ExtraManifests = []string{
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n",
			"{{ .Missing }}",
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\n",
		}
		s.SuperOffice.WebPanels = []tenancyv1alpha1.WebPanel{{Name: "p", URL: "not a url", VisibleIn: "ContactArchive"}}
		s.SuperOffice.Webhooks = []tenancyv1alpha1.Webhook{{Name: "w"}}
	})
	err := testRenderer().Validate(bp)
	wantInvalid(t, err,
		[2]string{"spec.kubernetes.namespaceTemplate", "not a valid namespace name"},
		[2]string{"spec.kubernetes.extraManifests[1]", "Missing"},
		[2]string{"spec.kubernetes.extraManifests[2].kind", "cluster-scoped"},
		[2]string{"spec.superOffice.webPanels[0].url", "absolute"},
		[2]string{"spec.superOffice.webhooks[0].events", "Required"},
	)
}

func TestValidateAcceptsAGoodBlueprint(t *testing.T) {
	bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) {
		s.Kubernetes.NamespaceTemplate = "acme-{{ .Environment }}-{{ lower .TenantID }}"
		s.Kubernetes.ExtraManifests = []string{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Name }}'}\ndata: {url: '{{ .NetServerURL }}'}\n"}
		s.SuperOffice.WebPanels = []tenancyv1alpha1.WebPanel{{Name: "p", URL: "https://app.example.com/panel?ctx={{ .TenantID }}", VisibleIn: "ContactArchive"}}
		s.SuperOffice.Webhooks = []tenancyv1alpha1.Webhook{{Name: "w", Events: []string{"contact.created"}}}
	})
	if err := testRenderer().Validate(bp); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// A nil error must be an untyped nil, not a nil *InvalidError.
	if err := testRenderer().Validate(blueprintWith(nil)); err != nil {
		t.Fatalf("Validate(default): %#v", err)
	}
}

func TestRenderSuperOffice(t *testing.T) {
	bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) {
		s.SuperOffice = tenancyv1alpha1.SuperOfficeBlueprint{
			WebPanels: []tenancyv1alpha1.WebPanel{
				{Name: "plain", URL: "https://app.example.com/p?t={{ .TenantID }}", VisibleIn: "ContactArchive", Description: "Orders"},
				{Name: "named", URL: "https://app.example.com/n", VisibleIn: "PersonArchive", Description: "Acme App orders"},
				{Name: "empty", URL: " https://app.example.com/e/{{ .Environment }} ", VisibleIn: "ProjectArchive"},
			},
			UserDefinedFields: []tenancyv1alpha1.UserDefinedField{{Entity: "Contact", ProgID: "acme:score", Label: "Score", Type: "Number"}},
			Buttons:           []tenancyv1alpha1.Button{{Name: "open", Location: "Sale", URL: "{{ .WebAPIURL }}v1/Sale"}},
			Preferences: []tenancyv1alpha1.Preference{
				{Section: "acme", Key: "env", Value: "{{ .Environment | upper }}"},
				{Section: "acme", Key: "env", Value: "x", Level: "System"},
			},
			Webhooks: []tenancyv1alpha1.Webhook{
				{Name: "own", Events: []string{"contact.created"}},
				{Name: "custom", Events: []string{"sale.changed"}, TargetURL: "https://hooks.example.com/{{ .TenantIDLower }}"},
			},
		}
	})
	orig := bp.DeepCopy()
	got, err := testRenderer().Render(bp, testInstallation())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	so := got.SuperOffice
	wantPanels := []tenancyv1alpha1.WebPanel{
		{Name: "plain", URL: "https://app.example.com/p?t=Cust12345", VisibleIn: "ContactArchive", Description: "Orders (Acme App)"},
		{Name: "named", URL: "https://app.example.com/n", VisibleIn: "PersonArchive", Description: "Acme App orders"},
		{Name: "empty", URL: "https://app.example.com/e/online", VisibleIn: "ProjectArchive", Description: "Acme App"},
	}
	if !reflect.DeepEqual(so.WebPanels, wantPanels) {
		t.Errorf("web panels:\n got %+v\nwant %+v", so.WebPanels, wantPanels)
	}
	if so.Buttons[0].URL != "https://online3.superoffice.com/Cust12345/api/v1/Sale" {
		t.Errorf("button URL = %q", so.Buttons[0].URL)
	}
	if p := so.Preferences[0]; p.Value != "ONLINE" || p.Level != "Database" {
		t.Errorf("preference = %+v, want value ONLINE at level Database", p)
	}
	if p := so.Preferences[1]; p.Level != "System" {
		t.Errorf("explicit level overwritten: %+v", p)
	}
	if so.Webhooks[0].TargetURL != "" || so.Webhooks[1].TargetURL != "https://hooks.example.com/cust12345" {
		t.Errorf("webhook targets = %q, %q", so.Webhooks[0].TargetURL, so.Webhooks[1].TargetURL)
	}
	if !reflect.DeepEqual(so.UserDefinedFields, orig.Spec.SuperOffice.UserDefinedFields) {
		t.Errorf("user-defined fields changed: %+v", so.UserDefinedFields)
	}
	if !reflect.DeepEqual(bp, orig) {
		t.Errorf("Render modified the blueprint")
	}
	so.WebPanels[0].Name = "changed"
	if bp.Spec.SuperOffice.WebPanels[0].Name != "plain" {
		t.Errorf("rendered section shares memory with the blueprint")
	}

	// Without an app name, descriptions are left alone.
	got, err = Renderer{Mapper: testMapper}.Render(bp, testInstallation())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if d := got.SuperOffice.WebPanels[0].Description; d != "Orders" {
		t.Errorf("description without app name = %q", d)
	}
}

func TestTemplateFunctions(t *testing.T) {
	v := ValuesFor(testInstallation(), tenantNS)
	cases := []struct{ tmpl, want string }{
		{"{{ lower .TenantID }}", "cust12345"},
		{"{{ .TenantID | upper }}", "CUST12345"},
		{`{{ quote "a\"b" }}`, `"a\"b"`},
		{`{{ default "x" "" }}`, "x"},
		{`{{ default "x" .Environment }}`, "online"},
		{`{{ .NetServerURL | default "none" }}`, "https://online3.superoffice.com/Cust12345/Remote/Services88/"},
		{`{{ printf "%s/%05d" .Name 7 }}`, "online-cust12345/00007"},
		{`{{ printf "100%%" }}`, "100%"},
		{"{{ .InstallationNamespace }}/{{ .Namespace }}", "tenant-operator-system/" + tenantNS},
		{`{{ if eq .Environment "online" }}prod{{ else }}test{{ end }}`, "prod"},
		{`{{ with .WebAPIURL }}{{ . }}{{ end }}`, "https://online3.superoffice.com/Cust12345/api/"},
	}
	for _, tc := range cases {
		got, err := execute("t", tc.tmpl, v)
		if err != nil || got != tc.want {
			t.Errorf("execute(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestValuesFor(t *testing.T) {
	got := ValuesFor(testInstallation(), "ns1")
	want := Values{
		TenantID: "Cust12345", TenantIDLower: "cust12345", Environment: "online", Name: "online-cust12345",
		Namespace: "ns1", InstallationNamespace: "tenant-operator-system",
		WebAPIURL: "https://online3.superoffice.com/Cust12345/api/", NetServerURL: "https://online3.superoffice.com/Cust12345/Remote/Services88/",
	}
	if got != want {
		t.Errorf("ValuesFor = %+v, want %+v", got, want)
	}
}

// failingMapper stands for a discovery-backed mapper that cannot reach the
// API server.
type failingMapper struct{ meta.RESTMapper }

func (failingMapper) RESTMapping(schema.GroupKind, ...string) (*meta.RESTMapping, error) {
	return nil, errors.New("discovery unavailable")
}

func TestMapperFailureIsNotInvalid(t *testing.T) {
	bp := blueprintWith(extra("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"))
	_, err := Renderer{Mapper: failingMapper{}}.Render(bp, testInstallation())
	var ie *InvalidError
	if err == nil || errors.As(err, &ie) || !strings.Contains(err.Error(), "discovery unavailable") {
		t.Fatalf("err = %v; want a retryable, non-InvalidError mentioning the cause", err)
	}
	if _, err := (Renderer{}).Render(bp, testInstallation()); err == nil {
		t.Fatal("a Renderer without Mapper rendered")
	}
	if _, err := testRenderer().Render(nil, testInstallation()); err == nil {
		t.Fatal("Render(nil blueprint) succeeded")
	}
}

func TestStaticMapper(t *testing.T) {
	cases := []struct {
		gvk   schema.GroupVersionKind
		scope meta.RESTScopeName // "" means unknown
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeNameRoot},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeNameRoot},
		{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolume"}, meta.RESTScopeNameRoot},
		{schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}, meta.RESTScopeNameRoot},
		{schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeNameRoot},
		{tenancyv1alpha1.GroupVersion.WithKind("TenantBlueprint"), meta.RESTScopeNameRoot},
		{tenancyv1alpha1.GroupVersion.WithKind("TenantInstallation"), meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMapList"}, ""},
		{schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}, ""},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, ""},
	}
	m := NewStaticMapper()
	for _, tc := range cases {
		mapping, err := m.RESTMapping(tc.gvk.GroupKind(), tc.gvk.Version)
		if tc.scope == "" {
			if !meta.IsNoMatchError(err) {
				t.Errorf("%s: err = %v, want no match", tc.gvk, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.gvk, err)
			continue
		}
		if mapping.Scope.Name() != tc.scope {
			t.Errorf("%s: scope %s, want %s", tc.gvk, mapping.Scope.Name(), tc.scope)
		}
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	err := testRenderer().Validate(blueprintWith(extra("{{ .A }}", "{{ .B }}")))
	msg := err.Error()
	for _, want := range []string{"invalid blueprint: ", "spec.kubernetes.extraManifests[0]", "; spec.kubernetes.extraManifests[1]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// Manifests are not echoed back: the messages stay short.
	err = testRenderer().Validate(blueprintWith(extra("apiVersion: v1\nkind: Widget\nmetadata: {name: a}\ndata: {secretish: " + strings.Repeat("z", 200) + "}\n")))
	if strings.Contains(err.Error(), "zzzz") {
		t.Errorf("message echoes the manifest: %s", err)
	}
}
