package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

// Three instances, one per SuperOffice environment, share one cluster as
// the overlays deploy them: each reconciles only its own installations and
// each has its own leader election lease.
var _ = Describe("sod, stage and online managers on one control plane", Ordered, func() {
	const (
		installNS = "tenant-installs"
		leaseNS   = "tenant-operator-system"
		tenant    = "Cust1001"
	)
	envs := []string{"sod", "stage", "online"}
	leaseID := func(env string) string { return "tenant-operator-" + env + ".tenancy.tenant-operator.io" }

	var (
		cp       *controlplane.ControlPlane
		k8s      client.Client
		sim      *simForManagers
		configs  = map[string]string{}
		managers = map[string]*managerProcess{}
	)

	startManager := func(ctx context.Context, env string) {
		m, err := startManagerProcess(managerSpec{
			name: env, configPath: configs[env], environment: env, leaderElectionID: leaseID(env),
			leaseNamespace: leaseNS, kubeconfig: cp.KubeconfigPath,
			// The built-in environments need https: trust the simulator's certificate.
			extraEnv: []string{"SSL_CERT_FILE=" + sim.caFile},
		})
		Expect(err).NotTo(HaveOccurred())
		managers[env] = m
		readyCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		Expect(m.waitReady(readyCtx)).To(Succeed())
	}

	ready := func(ctx context.Context, env string) func(Gomega) {
		return func(g Gomega) {
			ti := &tenancyv1alpha1.TenantInstallation{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: installNS, Name: env + "-cust1001"}, ti)).To(Succeed())
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "%s: %+v", env, ti.Status.Conditions)
			cm := &corev1.ConfigMap{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "tenant-" + env + "-cust1001", Name: "tenant-settings"}, cm)).To(Succeed())
			g.Expect(cm.Data).To(HaveKeyWithValue("environment", env))
		}
	}

	BeforeAll(func(ctx SpecContext) {
		f := startProcessFixture(ctx, "environments", installNS, leaseNS, true, func() {
			for _, m := range managers {
				m.stop()
			}
		})
		cp, k8s, sim = f.cp, f.k8s, f.sim
		dir := f.dir
		for _, env := range envs {
			port, err := freePort()
			Expect(err).NotTo(HaveOccurred())
			configs[env], err = sim.writeManagerConfig(dir, env, installNS, port)
			Expect(err).NotTo(HaveOccurred())
		}
	}, NodeTimeout(3*time.Minute))

	It("provisions each environment's installation only by that environment's manager", func(ctx SpecContext) {
		By("running the sod and online managers, not stage")
		startManager(ctx, "sod")
		startManager(ctx, "online")

		By("installing the same tenant in all three environments")
		for _, env := range envs {
			Expect(k8s.Create(ctx, newInstallation(installNS, env, tenant))).To(Succeed())
		}
		Eventually(ready(ctx, "sod")).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Eventually(ready(ctx, "online")).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("the stage installation staying untouched while no stage manager runs")
		Consistently(func(g Gomega) {
			ti := &tenancyv1alpha1.TenantInstallation{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: installNS, Name: "stage-cust1001"}, ti)).To(Succeed())
			g.Expect(ti.Finalizers).To(BeEmpty(), "a sod or online manager took the stage installation")
			g.Expect(ti.Status.Phase).To(BeEmpty())
			g.Expect(ti.Status.Provisioned).To(BeEmpty())
			err := k8s.Get(ctx, client.ObjectKey{Name: "tenant-stage-cust1001"}, &corev1.Namespace{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the stage tenant namespace exists: %v", err)
		}).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("starting the stage manager, which provisions it")
		startManager(ctx, "stage")
		Eventually(ready(ctx, "stage")).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	}, NodeTimeout(4*time.Minute))

	It("gives every environment its own leader election lease", func(ctx SpecContext) {
		holders := map[string]string{}
		for _, env := range envs {
			lease := &coordinationv1.Lease{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: leaseID(env)}, lease)).To(Succeed())
			Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
			Expect(*lease.Spec.HolderIdentity).NotTo(BeEmpty())
			holders[env] = *lease.Spec.HolderIdentity
			Expect(managers[env].isLeader()).To(BeTrue(), "the %s manager does not lead its own lease", env)
		}
		Expect(holders["sod"]).NotTo(Equal(holders["stage"]))
		Expect(holders["sod"]).NotTo(Equal(holders["online"]))
		Expect(holders["stage"]).NotTo(Equal(holders["online"]))
		for _, m := range managers {
			Expect(m.exited()).To(BeFalse(), "manager %s exited:\n%s", m.name, m.Log())
		}
	})
})
