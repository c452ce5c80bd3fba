package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	ctrl "sigs.k8s.io/controller-runtime"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/controllers"
)

// rbacEnv is reconciled only by the operator started in this file, which runs
// as a user bound to nothing but the ClusterRole the project ships.
const rbacEnv = "online"

const extraService = `apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  ports:
  - port: 80
`

var _ = Describe("An operator running with exactly the RBAC it ships", Ordered, func() {
	var opCtx context.Context
	var stop context.CancelFunc

	BeforeAll(func() {
		raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict(raw, role)).To(Succeed())
		role.Name = "shipped-manager-role"
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		const user = "tenant-operator-under-test"
		Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "shipped-manager-role"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		})).To(Succeed())
		operator, err := cp.Env.AddUser(envtest.User{Name: user}, nil)
		Expect(err).NotTo(HaveOccurred())

		mgr, err := ctrl.NewManager(operator.Config(), ctrl.Options{
			Scheme:  scheme,
			Metrics: metricsserver.Options{BindAddress: "0"},
			Cache:   controllers.CacheOptions(),
			Client:  controllers.ClientOptions(),
			// The suite's own manager already registered these controller
			// names in this process.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		r := managerReconciler(mgr, rbacEnv)
		// Short, so a reconcile that blocks shows up as a failure of this
		// spec rather than as a silent wait.
		r.ReconcileTimeout = time.Minute
		Expect(r.SetupWithManager(mgr)).To(Succeed())

		opCtx, stop = context.WithCancel(ctx)
		go func() {
			defer GinkgoRecover()
			Expect(mgr.Start(opCtx)).To(Succeed())
		}()
	})
	AfterAll(func() { stop() })

	It("installs and completely removes a tenant", func() {
		bp, ti := newTenant("rbac", rbacEnv, extraConfigMap)
		createAll(bp, ti)

		Eventually(func(g Gomega) {
			cur := get(ctx, ti)
			g.Expect(cur.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "conditions: %v", cur.Status.Conditions)
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		tenantNS := get(ctx, ti).Status.Namespace
		Expect(labelledWith(ctx, ti)).To(HaveLen(7))

		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ti), &tenancyv1alpha1.TenantInstallation{}))
		}, 60*time.Second, 200*time.Millisecond).Should(BeTrue())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: tenantNS}, &corev1.Namespace{}))).To(BeTrue())
		Expect(labelledWith(ctx, ti)).To(BeEmpty())
	})

	It("names a kind it may not manage instead of blocking on it, creates nothing, and uninstalls at once", func() {
		bp, ti := newTenant("rbac", rbacEnv, extraService)
		createAll(bp, ti)

		Eventually(func(g Gomega) {
			stalled := condition(get(ctx, ti), tenancyv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(controllers.ReasonNotPermitted))
			g.Expect(stalled.Message).To(ContainSubstring("may not manage Service (missing get, list, watch, create, patch, delete)"))
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		cur := get(ctx, ti)
		Expect(cur.Status.Phase).To(Equal(tenancyv1alpha1.PhaseFailed))
		Expect(cur.Status.Provisioned).To(BeEmpty(), "nothing is recorded, so nothing is created")
		Expect(labelledWith(ctx, ti)).To(BeEmpty())

		Expect(k8sClient.Delete(ctx, ti)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ti), &tenancyv1alpha1.TenantInstallation{}))
		}, 10*time.Second, 200*time.Millisecond).Should(BeTrue())
	})
})

// denyKinds is an AccessChecker that refuses every verb on the given kinds.
type denyKinds map[string]bool

func (d denyKinds) Missing(_ context.Context, gvk schema.GroupVersionKind) ([]string, error) {
	if d[gvk.Kind] {
		return []string{"create", "delete"}, nil
	}
	return nil, nil
}

var _ = Describe("A blueprint declaring a kind the operator may not manage", func() {
	It("says so on the blueprint, looks again, and turns Ready once the grant is there", func() {
		bp, _ := newTenant("bpaccess", suiteEnv, extraService)
		createAll(bp)
		key := client.ObjectKeyFromObject(bp)
		readyReason := func() string {
			b := &tenancyv1alpha1.TenantBlueprint{}
			Expect(k8sClient.Get(ctx, key, b)).To(Succeed())
			if c := meta.FindStatusCondition(b.Status.Conditions, tenancyv1alpha1.ConditionReady); c != nil {
				return c.Reason + ": " + c.Message
			}
			return ""
		}
		// The suite's reconciler (an administrator) gives its verdict once
		// per generation; after that only the one below writes.
		Eventually(readyReason, 10*time.Second, 100*time.Millisecond).Should(HavePrefix(controllers.ReasonValid))

		r := &controllers.TenantBlueprintReconciler{Client: mgrClient, Renderer: renderer, Access: denyKinds{"Service": true}}
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "a grant announces itself to nobody: look again")
		Expect(readyReason()).To(Equal(controllers.ReasonNotPermitted +
			": The operator may not manage Service (missing create, delete); grant these verbs to its ClusterRole. Until then installations of this blueprint create nothing new"))
		b := &tenancyv1alpha1.TenantBlueprint{}
		Expect(k8sClient.Get(ctx, key, b)).To(Succeed())
		Expect(meta.IsStatusConditionTrue(b.Status.Conditions, tenancyv1alpha1.ConditionValid)).To(BeTrue(), "the blueprint itself is valid")
		Expect(meta.IsStatusConditionTrue(b.Status.Conditions, tenancyv1alpha1.ConditionStalled)).To(BeTrue())

		r.Access = denyKinds{}
		Eventually(func(g Gomega) {
			res, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(readyReason()).To(HavePrefix(controllers.ReasonValid))
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(res.RequeueAfter).To(BeZero())
		Expect(k8sClient.Get(ctx, key, b)).To(Succeed())
		Expect(meta.FindStatusCondition(b.Status.Conditions, tenancyv1alpha1.ConditionStalled)).To(BeNil())
	})
})
