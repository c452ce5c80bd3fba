package controllers_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
	"github.com/tenant-operator/tenant-operator/internal/inventory"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

const extraConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  tenant: "{{ .TenantID }}"
`

var _ = Describe("TenantInstallation", func() {
	const timeout, poll = 60 * time.Second, 200 * time.Millisecond
	var (
		ns string
		bp *tenancyv1alpha1.TenantBlueprint
		ti *tenancyv1alpha1.TenantInstallation
	)

	BeforeEach(func() {
		tenant := nextTenantID()
		ns = "installs-" + strings.ToLower(tenant)
		createNamespace(ctx, ns)
		bp = newBlueprint("bp-"+strings.ToLower(tenant), extraConfigMap)
		Expect(k8sClient.Create(ctx, bp)).To(Succeed())
		ti = newInstallation(ns, suiteEnv, tenant, bp.Name)
	})

	// readyInstallation creates ti and waits until it is Ready.
	readyInstallation := func() *tenancyv1alpha1.TenantInstallation {
		Expect(k8sClient.Create(ctx, ti)).To(Succeed())
		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			g.Expect(cur.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "conditions: %+v", cur.Status.Conditions)
		}, timeout, poll).Should(Succeed())
		return get(ctx, ti)
	}

	tenantNamespace := func() string { return get(ctx, ti).Status.Namespace }

	It("provisions exactly the blueprint's artifacts, records them, and reads Current to kstatus and kubectl", func() {
		cur := readyInstallation()

		rendered, err := renderer.Render(bp, cur)
		Expect(err).NotTo(HaveOccurred())
		var want []string
		for _, o := range rendered.Objects {
			want = append(want, inventory.KubernetesID(o.GroupVersionKind(), o.GetNamespace(), o.GetName()))
		}
		Expect(want).To(HaveLen(7), "namespace, quota, limits, isolation, service account, values, extra")
		var got []string
		for _, e := range cur.Status.Provisioned {
			got = append(got, e.ID)
			Expect(e.State).To(Equal(tenancyv1alpha1.ArtifactReady), e.ID)
			Expect(e.Target).To(Equal(tenancyv1alpha1.TargetKubernetes))
		}
		Expect(got).To(ConsistOf(want))
		Expect(cur.Status.ArtifactCount).To(Equal(len(want)))
		Expect(cur.Finalizers).To(ContainElement(tenancyv1alpha1.Finalizer))

		for _, o := range rendered.Objects {
			live := o.DeepCopy()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), live)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			Expect(live.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.ManagedByLabel, tenancyv1alpha1.ManagedByValue))
			Expect(live.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.InstallationLabel, ns+"."+ti.Name))
		}
		Expect(labelledWith(ctx, ti)).To(HaveLen(len(want)))

		Expect(kstatusOf(cur)).To(Equal(status.CurrentStatus))
		Expect(condition(cur, tenancyv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))

		kubectl := filepath.Join(cp.Env.BinaryAssetsDirectory, "kubectl")
		out, err := exec.Command(kubectl, "--kubeconfig", cp.KubeconfigPath, "wait", "--for=condition=Ready",
			"-n", ns, "tenantinstallation/"+ti.Name, "--timeout=30s").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("condition met"))
	})

	It("repairs an artifact deleted or edited by hand", func() {
		readyInstallation()
		key := types.NamespacedName{Namespace: tenantNamespace(), Name: "tenant-values"}

		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		want := cm.Data["tenantID"]
		cm.Data["tenantID"] = "tampered"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
			g.Expect(cm.Data["tenantID"]).To(Equal(want))
		}, timeout, poll).Should(Succeed())

		uid := cm.UID
		Expect(k8sClient.Delete(ctx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
			g.Expect(cm.UID).NotTo(Equal(uid), "a new object, not the deleted one")
		}, timeout, poll).Should(Succeed())
	})

	It("repairs drift in an extra manifest of a kind outside the built-ins as it happens, not at the next resync", func() {
		// A patch, not an update: the blueprint reconciler may be writing
		// its status at this moment.
		patch := client.MergeFrom(bp.DeepCopy())
		bp.Spec.Kubernetes.ExtraManifests = append(bp.Spec.Kubernetes.ExtraManifests, extraService)
		Expect(k8sClient.Patch(ctx, bp, patch)).To(Succeed())
		readyInstallation()
		key := types.NamespacedName{Namespace: tenantNamespace(), Name: "app"}
		svc := &corev1.Service{}
		Expect(k8sClient.Get(ctx, key, svc)).To(Succeed())
		uid := svc.UID

		// The suite's resync interval is the default ten minutes, so only
		// a watch on Services brings the installation back this soon.
		Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, svc)).To(Succeed())
			g.Expect(svc.UID).NotTo(Equal(uid), "a new object, not the deleted one")
		}, 20*time.Second, poll).Should(Succeed())
	})

	It("rolls out a blueprint change: adds new artifacts, prunes dropped ones, never touches what it did not create", func() {
		readyInstallation()
		tns := tenantNamespace()
		foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tns, Name: "foreign"}, Data: map[string]string{"k": "v"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		// A foreign object that a blueprint later asks for by the same name
		// must not be taken over either.
		squatter := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tns, Name: "squatter"}, Data: map[string]string{"mine": "yes"}}
		Expect(k8sClient.Create(ctx, squatter)).To(Succeed())

		patch := client.MergeFrom(bp.DeepCopy())
		bp.Spec.Kubernetes.ExtraManifests = []string{
			strings.ReplaceAll(extraConfigMap, "name: extra", "name: added"),
			strings.ReplaceAll(extraConfigMap, "name: extra", "name: squatter"),
		}
		Expect(k8sClient.Patch(ctx, bp, patch)).To(Succeed())

		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			names := map[string]tenancyv1alpha1.ArtifactState{}
			for _, e := range cur.Status.Provisioned {
				names[e.Kind+"/"+e.Name] = e.State
			}
			g.Expect(names).To(HaveKeyWithValue("ConfigMap/added", tenancyv1alpha1.ArtifactReady))
			g.Expect(names).NotTo(HaveKey("ConfigMap/extra"))
			g.Expect(names).To(HaveKeyWithValue("ConfigMap/squatter", tenancyv1alpha1.ArtifactFailed))
			g.Expect(condition(cur, tenancyv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
			g.Expect(condition(cur, tenancyv1alpha1.ConditionReady).Message).To(ContainSubstring("not owned by this installation"))
		}, timeout, poll).Should(Succeed())

		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: tns, Name: "extra"}, &corev1.ConfigMap{}))).To(BeTrue(), "dropped artifact pruned")
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: tns, Name: "added"}, &corev1.ConfigMap{})).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
		Expect(foreign.Labels).To(BeEmpty())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(squatter), squatter)).To(Succeed())
		Expect(squatter.Data).To(Equal(map[string]string{"mine": "yes"}))
		Expect(squatter.Labels).To(BeEmpty())
	})

	It("removes every artifact on delete, the namespace observed gone, then releases the finalizer", func() {
		readyInstallation()
		tns := tenantNamespace()
		// An object we did not create inside the tenant namespace goes with
		// the namespace, through the real namespace controller.
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tns, Name: "user-data"}})).To(Succeed())

		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ti), &tenancyv1alpha1.TenantInstallation{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "installation still exists: %v", err)
		}, 2*timeout, poll).Should(Succeed(), "controller-manager log:\n%s", cp.ControllerManagerLog())

		err := k8sClient.Get(ctx, types.NamespacedName{Name: tns}, &corev1.Namespace{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "tenant namespace must be gone, not Terminating: %v", err)
		Expect(labelledWith(ctx, ti)).To(BeEmpty())
	})

	It("never waits silently on an artifact that refuses deletion, and can be released deliberately", func() {
		readyInstallation()
		tns := tenantNamespace()
		key := types.NamespacedName{Namespace: tns, Name: "tenant-values"}
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		cm.Finalizers = append(cm.Finalizers, "example.com/hold")
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())

		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			g.Expect(cur.Status.Phase).To(Equal(tenancyv1alpha1.PhaseUninstalling))
			ready := condition(cur, tenancyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(controllers.ReasonDeletionBlocked))
			g.Expect(ready.Message).To(ContainSubstring("example.com/hold"))
			g.Expect(ready.Message).To(ContainSubstring("tenant-values"))
			e, ok := inventory.Find(cur.Status.Provisioned, inventory.KubernetesID(corev1.SchemeGroupVersion.WithKind("ConfigMap"), tns, "tenant-values"))
			g.Expect(ok).To(BeTrue())
			g.Expect(e.State).To(Equal(tenancyv1alpha1.ArtifactDeleting))
		}, timeout, poll).Should(Succeed())

		By("reporting Stalled, with the way out, once the deletion timeout has passed")
		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			stalled := condition(cur, tenancyv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(stalled.Message).To(ContainSubstring(tenancyv1alpha1.ReleaseAnnotation))
			// kstatus reads any object with a deletion timestamp as Terminating.
			g.Expect(kstatusOf(cur)).To(Equal(status.TerminatingStatus))
		}, timeout, poll).Should(Succeed())

		By("releasing on the annotation, with an event naming what is left")
		cur := get(ctx, ti)
		patch := client.MergeFrom(cur.DeepCopy())
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[tenancyv1alpha1.ReleaseAnnotation] = "true"
		Expect(k8sClient.Patch(ctx, cur, patch)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ti), &tenancyv1alpha1.TenantInstallation{}))
		}, timeout, poll).Should(BeTrue())
		Eventually(func(g Gomega) {
			evs := &corev1.EventList{}
			g.Expect(k8sClient.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
			var found bool
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == ti.Name && ev.Reason == "Released" {
					found = strings.Contains(ev.Message, "tenant-values")
				}
			}
			g.Expect(found).To(BeTrue(), "a Released event naming tenant-values")
		}, timeout, poll).Should(Succeed())

		// The held ConfigMap was left, as the release said; clean it up.
		Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		cm.Finalizers = nil
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	})

	It("refuses an invalid blueprint with a clear condition and changes nothing", func() {
		broken := newBlueprint("broken-"+strings.ToLower(ti.Spec.TenantID), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .NoSuchValue }}\n")
		Expect(k8sClient.Create(ctx, broken)).To(Succeed())
		ti.Spec.Blueprint = broken.Name
		Expect(k8sClient.Create(ctx, ti)).To(Succeed())

		Eventually(func(g Gomega) {
			b := &tenancyv1alpha1.TenantBlueprint{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(broken), b)).To(Succeed())
			valid := meta.FindStatusCondition(b.Status.Conditions, tenancyv1alpha1.ConditionValid)
			g.Expect(valid).NotTo(BeNil())
			g.Expect(valid.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(valid.Message).To(ContainSubstring("spec.kubernetes.extraManifests[0]"))
		}, timeout, poll).Should(Succeed())

		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			stalled := condition(cur, tenancyv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(controllers.ReasonInvalidBlueprint))
			g.Expect(stalled.Message).To(ContainSubstring("spec.kubernetes.extraManifests[0]"))
			g.Expect(kstatusOf(cur)).To(Equal(status.FailedStatus))
		}, timeout, poll).Should(Succeed())
		Consistently(func() []string { return labelledWith(ctx, ti) }, 2*time.Second, poll).Should(BeEmpty())
		Expect(get(ctx, ti).Status.Provisioned).To(BeEmpty())
	})

	It("keeps a ready installation unchanged when its blueprint turns invalid", func() {
		readyInstallation()
		before := labelledWith(ctx, ti)
		patch := client.MergeFrom(bp.DeepCopy())
		bp.Spec.Kubernetes.ExtraManifests = []string{"apiVersion: v1\nkind: NoSuchKind\nmetadata:\n  name: x\n"}
		Expect(k8sClient.Patch(ctx, bp, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			stalled := condition(get(ctx, ti), tenancyv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Message).To(ContainSubstring("NoSuchKind"))
		}, timeout, poll).Should(Succeed())
		Expect(labelledWith(ctx, ti)).To(ConsistOf(before), "nothing pruned or changed")
	})

	It("makes no change while suspended", func() {
		ti.Spec.Suspend = true
		Expect(k8sClient.Create(ctx, ti)).To(Succeed())
		Eventually(func() tenancyv1alpha1.Phase { return get(ctx, ti).Status.Phase }, timeout, poll).Should(Equal(tenancyv1alpha1.PhaseSuspended))
		Consistently(func() []string { return labelledWith(ctx, ti) }, 2*time.Second, poll).Should(BeEmpty())
	})
})

var _ = Describe("The manager's cache", func() {
	It("holds Secrets and ConfigMaps only when they carry the managed-by label", func() {
		ns := "cache-" + strings.ToLower(nextTenantID())
		createNamespace(ctx, ns)
		foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "foreign"}}
		ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours",
			Labels: map[string]string{tenancyv1alpha1.ManagedByLabel: tenancyv1alpha1.ManagedByValue}}}
		foreignSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "foreign"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		Expect(k8sClient.Create(ctx, foreignSecret)).To(Succeed())
		Expect(k8sClient.Create(ctx, ours)).To(Succeed())

		Eventually(func() error {
			return mgrClient.Get(ctx, client.ObjectKeyFromObject(ours), &corev1.Secret{})
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		// The labelled Secret reached the cache, so the unlabelled objects,
		// made before it, would have too if the cache took them.
		Expect(apierrors.IsNotFound(mgrClient.Get(ctx, client.ObjectKeyFromObject(foreignSecret), &corev1.Secret{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(mgrClient.Get(ctx, client.ObjectKeyFromObject(foreign), &corev1.ConfigMap{}))).To(BeTrue())
		list := &corev1.SecretList{}
		Expect(mgrClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
	})
})

var _ = Describe("A reconciler driven step by step", func() {
	It("reads InProgress while provisioning, Current when ready, and then makes zero writes", func() {
		bp, ti := newTenant("manual", manualEnv, extraConfigMap)
		createAll(bp, ti)
		tenant := ti.Spec.TenantID

		counter := &writeCounter{Client: mgrClient}
		r := &controllers.TenantInstallationReconciler{
			Client: counter, APIReader: mgrReader, Recorder: events.NewFakeRecorder(100), Renderer: renderer,
			Provisioners: provision.Registry{Kubernetes: &provision.Kubernetes{Client: counter, APIReader: mgrReader}},
			Environment:  manualEnv, ResyncInterval: time.Hour,
		}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ti)}
		synced := func() { cacheCaughtUp(ti) }

		synced()
		_, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		cur := get(ctx, ti)
		Expect(cur.Finalizers).To(ContainElement(tenancyv1alpha1.Finalizer))
		Expect(kstatusOf(cur)).To(Equal(status.InProgressStatus), "after the finalizer step")

		synced()
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		cur = get(ctx, ti)
		Expect(cur.Status.Provisioned).To(HaveLen(7))
		Expect(inventory.AllIn(cur.Status.Provisioned, tenancyv1alpha1.ArtifactPending)).To(BeTrue(), "intent recorded before anything is created")
		Expect(kstatusOf(cur)).To(Equal(status.InProgressStatus), "while provisioning")
		Expect(labelledWith(ctx, ti)).To(BeEmpty())

		synced()
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		cur = get(ctx, ti)
		Expect(cur.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady))
		Expect(kstatusOf(cur)).To(Equal(status.CurrentStatus))

		By("reconciling again with everything in place")
		synced()
		// The provisioner reads artifacts as unstructured objects, which the
		// manager caches in informers of their own: wait on those, not on
		// the typed ConfigMap informer, which may be ahead of them.
		cachedData := func(g Gomega, key types.NamespacedName) string {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
			g.Expect(mgrClient.Get(ctx, key, u)).To(Succeed())
			v, _, _ := unstructured.NestedString(u.Object, "data", "tenant")
			return v
		}
		extraKey := types.NamespacedName{Namespace: cur.Status.Namespace, Name: "extra"}
		Eventually(func(g Gomega) {
			g.Expect(cachedData(g, extraKey)).To(Equal(tenant))
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		before := counter.n.Load()
		for range 3 {
			_, err = r.Reconcile(ctx, req)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(counter.n.Load()-before).To(BeZero(), "a reconcile that finds everything in place must make no write")
		Expect(get(ctx, ti).ResourceVersion).To(Equal(cur.ResourceVersion))

		By("and repairing drift with exactly the writes it needs")
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, extraKey, cm)).To(Succeed())
		cm.Data["tenant"] = "changed"
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(cachedData(g, extraKey)).To(Equal("changed"))
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		before = counter.n.Load()
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.n.Load()-before).To(Equal(int64(1)), "one apply, no status write")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["tenant"]).To(Equal(tenant))

		By("cleaning up through the same reconciler")
		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func() bool {
			synced := &tenancyv1alpha1.TenantInstallation{}
			if err := mgrClient.Get(ctx, req.NamespacedName, synced); err == nil && !synced.DeletionTimestamp.IsZero() {
				_, _ = r.Reconcile(ctx, req)
			}
			return apierrors.IsNotFound(k8sClient.Get(ctx, req.NamespacedName, &tenancyv1alpha1.TenantInstallation{}))
		}, 90*time.Second, 500*time.Millisecond).Should(BeTrue())
	})
})

// countingProvisioner stands in for a SuperOffice provisioner: each Apply
// counts one request in the tenant's usage, as the REST client does.
type countingProvisioner struct{}

func (countingProvisioner) Apply(_ context.Context, t provision.Tenant, d provision.Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	t.Usage.Requests++
	e := d.Entry
	e.State, e.RemoteID = tenancyv1alpha1.ArtifactReady, "1"
	return e, nil
}

func (countingProvisioner) Delete(_ context.Context, t provision.Tenant, _ tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	t.Usage.Requests++
	return true, "", nil
}

// laggingClient serves one stale copy of an installation, as a cache that
// has not yet seen the last write would.
type laggingClient struct {
	client.Client
	stale atomic.Pointer[tenancyv1alpha1.TenantInstallation]
}

func (l *laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if ti, ok := obj.(*tenancyv1alpha1.TenantInstallation); ok {
		if s := l.stale.Swap(nil); s != nil {
			s.DeepCopyInto(ti)
			return nil
		}
	}
	return l.Client.Get(ctx, key, obj, opts...)
}

var _ = Describe("A reconcile that starts from a cache behind its own last write", func() {
	It("reads the API server instead, so no usage is lost and no status goes back", func() {
		bp, ti := newTenant("lag", manualEnv)
		bp.Spec.SuperOffice.Preferences = []tenancyv1alpha1.Preference{{Section: "app", Key: "tenant", Value: "{{ .TenantID }}"}}
		createAll(bp, ti)

		lagging := &laggingClient{Client: mgrClient}
		r := &controllers.TenantInstallationReconciler{
			Client: lagging, APIReader: mgrReader, Recorder: events.NewFakeRecorder(100), Renderer: renderer,
			Provisioners: provision.Registry{
				Kubernetes:  &provision.Kubernetes{Client: mgrClient, APIReader: mgrReader},
				SuperOffice: map[string]provision.Provisioner{provision.KindPreference: countingProvisioner{}},
			},
			Environment: manualEnv, ResyncInterval: time.Hour,
		}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ti)}
		// Each step starts from the truth: the cache caught up, then the
		// reconcile. Only the step under test is given a stale copy.
		step := func() {
			cacheCaughtUp(ti)
			_, err := r.Reconcile(ctx, req)
			Expect(err).NotTo(HaveOccurred())
		}
		for range 3 {
			step() // finalizer, intent, apply
		}
		Expect(get(ctx, ti).Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady))

		older := get(ctx, ti)
		step() // one more request counted and written
		written := get(ctx, ti)
		Expect(written.Status.Usage.Requests).To(Equal(older.Status.Usage.Requests + 1))

		lagging.stale.Store(older)
		_, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(lagging.stale.Load()).To(BeNil(), "the stale copy was served")
		Expect(get(ctx, ti).Status.Usage.Requests).To(Equal(written.Status.Usage.Requests+1),
			"a reconcile from the stale copy would have written back %d", older.Status.Usage.Requests+1)

		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func() bool {
			_, _ = r.Reconcile(ctx, req)
			return apierrors.IsNotFound(k8sClient.Get(ctx, req.NamespacedName, &tenancyv1alpha1.TenantInstallation{}))
		}, 90*time.Second, 500*time.Millisecond).Should(BeTrue())
	})
})
