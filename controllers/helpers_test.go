package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

var tenantSeq atomic.Int64

// nextTenantID gives every spec its own tenant, so specs never share objects.
func nextTenantID() string { return fmt.Sprintf("Cust%d", 1000+tenantSeq.Add(1)) }

func newBlueprint(name string, extra ...string) *tenancyv1alpha1.TenantBlueprint {
	return &tenancyv1alpha1.TenantBlueprint{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1alpha1.TenantBlueprintSpec{Kubernetes: tenancyv1alpha1.KubernetesBlueprint{
			ResourceQuota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi")},
			LimitRange: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}},
			ExtraManifests: extra,
		}},
	}
}

func newInstallation(ns, env, tenantID, bp string) *tenancyv1alpha1.TenantInstallation {
	return &tenancyv1alpha1.TenantInstallation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenancyv1alpha1.InstallationName(env, tenantID)},
		Spec: tenancyv1alpha1.TenantInstallationSpec{TenantID: tenantID, Environment: env, Blueprint: bp,
			Endpoints: tenancyv1alpha1.Endpoints{WebAPIURL: "https://" + env + "2.superoffice.com/" + tenantID + "/api/"}},
	}
}

// newTenant gives a new tenant its own namespace (created) and returns a
// blueprint with the extra manifests and an installation of that blueprint
// in env, neither created yet.
func newTenant(prefix, env string, extra ...string) (*tenancyv1alpha1.TenantBlueprint, *tenancyv1alpha1.TenantInstallation) {
	tenant := nextTenantID()
	ns := prefix + "-" + strings.ToLower(tenant)
	createNamespace(ctx, ns)
	bp := newBlueprint("bp-"+strings.ToLower(tenant), extra...)
	return bp, newInstallation(ns, env, tenant, bp.Name)
}

// createAll creates the objects in order.
func createAll(objs ...client.Object) {
	for _, o := range objs {
		ExpectWithOffset(1, k8sClient.Create(ctx, o)).To(Succeed())
	}
}

// cacheCaughtUp waits until the manager's cache shows the installation as
// the API server has it, so a reconcile driven by hand starts from the truth.
func cacheCaughtUp(ti *tenancyv1alpha1.TenantInstallation) {
	EventuallyWithOffset(1, func(g Gomega) {
		cached := &tenancyv1alpha1.TenantInstallation{}
		g.Expect(mgrClient.Get(ctx, client.ObjectKeyFromObject(ti), cached)).To(Succeed())
		g.Expect(cached.ResourceVersion).To(Equal(get(ctx, ti).ResourceVersion))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}

func createNamespace(ctx context.Context, name string) {
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
}

func get(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation) *tenancyv1alpha1.TenantInstallation {
	out := &tenancyv1alpha1.TenantInstallation{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ti), out)).To(Succeed())
	return out
}

func condition(ti *tenancyv1alpha1.TenantInstallation, t string) *metav1.Condition {
	return meta.FindStatusCondition(ti.Status.Conditions, t)
}

// kstatusOf computes what kstatus (and so kubectl, Flux and Argo health)
// reads from an installation.
func kstatusOf(ti *tenancyv1alpha1.TenantInstallation) status.Status {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ti)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(tenancyv1alpha1.GroupVersion.String())
	u.SetKind("TenantInstallation")
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// ownedKinds are the kinds an installation's artifacts may have in these specs.
var ownedKinds = []client.ObjectList{
	&corev1.NamespaceList{}, &corev1.ConfigMapList{}, &corev1.ServiceAccountList{},
	&corev1.ResourceQuotaList{}, &corev1.LimitRangeList{}, &networkingv1.NetworkPolicyList{},
}

// labelledWith lists, straight from the API server, every object of the
// owned kinds that carries the installation label of ti.
func labelledWith(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation) []string {
	var out []string
	sel := client.MatchingLabels{tenancyv1alpha1.InstallationLabel: tenancyv1alpha1.InstallationLabelValue(ti.Namespace, ti.Name)}
	for _, l := range ownedKinds {
		list := l.DeepCopyObject().(client.ObjectList)
		Expect(k8sClient.List(ctx, list, sel)).To(Succeed())
		items, err := meta.ExtractList(list)
		Expect(err).NotTo(HaveOccurred())
		for _, it := range items {
			o := it.(client.Object)
			out = append(out, fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName()))
		}
	}
	return out
}

// writeCounter wraps a client and counts every write it passes on.
type writeCounter struct {
	client.Client
	n atomic.Int64
}

func (w *writeCounter) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	w.n.Add(1)
	return w.Client.Create(ctx, o, opts...)
}

func (w *writeCounter) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	w.n.Add(1)
	return w.Client.Update(ctx, o, opts...)
}

func (w *writeCounter) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	w.n.Add(1)
	return w.Client.Patch(ctx, o, p, opts...)
}

func (w *writeCounter) Apply(ctx context.Context, o runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	w.n.Add(1)
	return w.Client.Apply(ctx, o, opts...)
}

func (w *writeCounter) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	w.n.Add(1)
	return w.Client.Delete(ctx, o, opts...)
}

func (w *writeCounter) DeleteAllOf(ctx context.Context, o client.Object, opts ...client.DeleteAllOfOption) error {
	w.n.Add(1)
	return w.Client.DeleteAllOf(ctx, o, opts...)
}

func (w *writeCounter) Status() client.SubResourceWriter {
	return &statusWriteCounter{SubResourceWriter: w.Client.Status(), n: &w.n}
}

type statusWriteCounter struct {
	client.SubResourceWriter
	n *atomic.Int64
}

func (s *statusWriteCounter) Create(ctx context.Context, o, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Create(ctx, o, sub, opts...)
}

func (s *statusWriteCounter) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Update(ctx, o, opts...)
}

func (s *statusWriteCounter) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Patch(ctx, o, p, opts...)
}

func (s *statusWriteCounter) Apply(ctx context.Context, o runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Apply(ctx, o, opts...)
}
