// Package blueprint renders a TenantBlueprint for one TenantInstallation: the
// Kubernetes objects of the tenant, in apply order, and the SuperOffice
// section with every template filled in. It also validates blueprints on
// their own, reporting every problem at once with the field it is about.
package blueprint

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// DefaultNamespaceTemplate names the tenant namespace when a blueprint says nothing.
const DefaultNamespaceTemplate = "tenant-{{ .Environment }}-{{ .TenantIDLower }}"

// Names of the objects every tenant gets. Extra manifests may not reuse them
// with the same kind, whether or not the blueprint turns the object on, so
// that toggling a built-in later never collides with an extra manifest.
const (
	ResourceQuotaName  = "tenant-quota"
	LimitRangeName     = "tenant-limits"
	NetworkPolicyName  = "tenant-isolation"
	ServiceAccountName = "tenant-app"
	ConfigMapName      = "tenant-values"
)

// MaxExtraManifests matches the CRD's MaxItems, for blueprints that did not
// come through the API server.
const MaxExtraManifests = 50

// Values are what templates see.
type Values struct {
	TenantID, TenantIDLower, Environment, Name, Namespace, InstallationNamespace, WebAPIURL, NetServerURL string
}

// ValuesFor gives the template values of an installation whose tenant
// namespace is tenantNamespace.
func ValuesFor(ti *tenancyv1alpha1.TenantInstallation, tenantNamespace string) Values {
	return Values{
		TenantID:              ti.Spec.TenantID,
		TenantIDLower:         strings.ToLower(ti.Spec.TenantID),
		Environment:           ti.Spec.Environment,
		Name:                  ti.Name,
		Namespace:             tenantNamespace,
		InstallationNamespace: ti.Namespace,
		WebAPIURL:             ti.Spec.Endpoints.WebAPIURL,
		NetServerURL:          ti.Spec.Endpoints.NetServerURL,
	}
}

// Renderer renders blueprints. The zero value is unusable: Mapper is required.
type Renderer struct {
	// Mapper resolves kinds of extra manifests: unknown kind -> error; tells
	// namespaced vs cluster-scoped.
	Mapper meta.RESTMapper
	// AppName is appended to every web panel description (certification
	// rule), e.g. "Acme App".
	AppName string
}

// Rendered is a blueprint rendered for one installation.
type Rendered struct {
	// Namespace is the tenant namespace's name.
	Namespace string
	// Objects in apply order: Namespace, ResourceQuota (if any), LimitRange
	// (if any), NetworkPolicy (if isolation), ServiceAccount, ConfigMap, then
	// the extra manifests in blueprint order. Delete in reverse.
	Objects []*unstructured.Unstructured
	// SuperOffice is a copy of the blueprint's section with every template
	// rendered, web panel descriptions carrying the app name and preference
	// levels defaulted.
	SuperOffice tenancyv1alpha1.SuperOfficeBlueprint
}

// Render validates bp and renders it for ti. A blueprint that cannot be
// rendered gives an *InvalidError listing every problem; any other error
// (for example the Mapper failing to reach discovery) is worth retrying.
func (r Renderer) Render(bp *tenancyv1alpha1.TenantBlueprint, ti *tenancyv1alpha1.TenantInstallation) (*Rendered, error) {
	if bp == nil || ti == nil {
		return nil, errors.New("render blueprint: blueprint and installation are both required")
	}
	return r.render(bp, ti)
}

// Validate checks a blueprint on its own by rendering every template for a
// sample installation (tenant Cust0 in environment sod). It returns nil or an
// *InvalidError with all problems; only a failing Mapper gives another error.
func (r Renderer) Validate(bp *tenancyv1alpha1.TenantBlueprint) error {
	_, err := r.RenderSample(bp)
	return err
}

// RenderSample is Validate that also returns what the sample installation
// gets, for checks that need the rendered kinds.
func (r Renderer) RenderSample(bp *tenancyv1alpha1.TenantBlueprint) (*Rendered, error) {
	if bp == nil {
		return nil, errors.New("validate blueprint: no blueprint")
	}
	return r.render(bp, sampleInstallation())
}

// sampleInstallation stands in for a real tenant when a blueprint is checked
// on its own.
func sampleInstallation() *tenancyv1alpha1.TenantInstallation {
	ti := &tenancyv1alpha1.TenantInstallation{}
	ti.Name = tenancyv1alpha1.InstallationName("sod", "Cust0")
	ti.Namespace = "tenant-operator-system"
	ti.Spec.TenantID = "Cust0"
	ti.Spec.Environment = "sod"
	ti.Spec.Endpoints.WebAPIURL = "https://sod.superoffice.com/Cust0/api/"
	ti.Spec.Endpoints.NetServerURL = "https://sod.superoffice.com/Cust0/Remote/Services88/"
	return ti
}

func (r Renderer) render(bp *tenancyv1alpha1.TenantBlueprint, ti *tenancyv1alpha1.TenantInstallation) (*Rendered, error) {
	if r.Mapper == nil {
		return nil, errors.New("render blueprint: renderer has no RESTMapper")
	}
	spec := &bp.Spec
	specPath := field.NewPath("spec")
	kPath := specPath.Child("kubernetes")

	ns, errs := renderNamespace(spec.Kubernetes.NamespaceTemplate, ti, kPath.Child("namespaceTemplate"))
	nsKnown := len(errs) == 0
	v := ValuesFor(ti, ns)
	labels := ownerLabels(ti)

	out := &Rendered{Namespace: ns}
	builtins, err := builtinObjects(ns, &spec.Kubernetes, v, ti, labels)
	if err != nil {
		return nil, err
	}
	out.Objects = builtins

	extras, extraErrs, err := r.extraManifests(spec.Kubernetes.ExtraManifests, kPath.Child("extraManifests"), v, ns, nsKnown, labels)
	if err != nil {
		return nil, err
	}
	errs = append(errs, extraErrs...)
	out.Objects = append(out.Objects, extras...)

	so, soErrs := r.renderSuperOffice(&spec.SuperOffice, v, specPath.Child("superOffice"))
	errs = append(errs, soErrs...)
	out.SuperOffice = so

	if err := invalid(errs); err != nil {
		return nil, err
	}
	return out, nil
}

// ownerLabels are the labels of every object made for ti (DESIGN.md, "Names").
func ownerLabels(ti *tenancyv1alpha1.TenantInstallation) map[string]string {
	return map[string]string{
		tenancyv1alpha1.ManagedByLabel:    tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.InstallationLabel: tenancyv1alpha1.InstallationLabelValue(ti.Namespace, ti.Name),
		tenancyv1alpha1.EnvironmentLabel:  ti.Spec.Environment,
	}
}

func renderNamespace(tmpl string, ti *tenancyv1alpha1.TenantInstallation, p *field.Path) (string, field.ErrorList) {
	if tmpl == "" {
		tmpl = DefaultNamespaceTemplate
	}
	v := ValuesFor(ti, "")
	ns, err := execute(p.String(), tmpl, v)
	if err != nil {
		return "", field.ErrorList{bad(p, err.Error())}
	}
	// .Namespace is the very name being rendered; a template that uses it
	// renders differently once the name is known, so refuse it.
	v.Namespace = "placeholder"
	if again, err := execute(p.String(), tmpl, v); err != nil || again != ns {
		return "", field.ErrorList{bad(p, "must not use .Namespace: it is the name being rendered")}
	}
	ns = strings.TrimSpace(ns)
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return "", field.ErrorList{bad(p, fmt.Sprintf("renders %q, which is not a valid namespace name: %s", clip(ns), strings.Join(msgs, "; ")))}
	}
	return ns, nil
}

// clip shortens a rendered value for an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// builtinKeys reserve the built-in objects' kind and name.
var builtinKeys = map[objectKey]bool{
	{GroupKind: schema.GroupKind{Kind: "ResourceQuota"}, Name: ResourceQuotaName}:                             true,
	{GroupKind: schema.GroupKind{Kind: "LimitRange"}, Name: LimitRangeName}:                                   true,
	{GroupKind: schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}, Name: NetworkPolicyName}: true,
	{GroupKind: schema.GroupKind{Kind: "ServiceAccount"}, Name: ServiceAccountName}:                           true,
	{GroupKind: schema.GroupKind{Kind: "ConfigMap"}, Name: ConfigMapName}:                                     true,
}

// objectKey identifies an object in the tenant namespace regardless of the
// API version it is written in.
type objectKey struct {
	schema.GroupKind
	Name string
}

func (k objectKey) String() string { return fmt.Sprintf("%s %q", k.GroupKind.String(), k.Name) }
