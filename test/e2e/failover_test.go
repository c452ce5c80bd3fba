package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

// healthPoller calls a URL over and over and remembers every failure.
type healthPoller struct {
	mu       sync.Mutex
	calls    int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func pollHealth(url string, every time.Duration) *healthPoller {
	p := &healthPoller{stop: make(chan struct{}), done: make(chan struct{})}
	hc := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(p.done)
		for {
			status, _, err := httpGet(hc, url)
			p.mu.Lock()
			p.calls++
			if err != nil || status != http.StatusOK {
				p.failures = append(p.failures, fmt.Sprintf("%s: status %d, err %v", time.Now().Format(time.RFC3339Nano), status, err))
			}
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return p
}

func (p *healthPoller) finish() (int, []string) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.failures
}

// Two replicas of one instance: killing the leader with SIGKILL (no lease
// release) lets the other take over, and the survivor's callback server
// answers all along, because it runs on every replica, leader or not.
var _ = Describe("leader failover between two manager replicas", Ordered, func() {
	const (
		installNS = "ha-installs"
		leaseNS   = "tenant-operator-ha"
		env       = "ha"
		id        = "tenant-operator-ha.tenancy.tenant-operator.io"
	)
	var (
		cp       *controlplane.ControlPlane
		k8s      client.Client
		replicas []*managerProcess
	)

	leaseHolder := func(ctx context.Context) string {
		lease := &coordinationv1.Lease{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: id}, lease); err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	provisioned := func(ctx context.Context, name string) func(Gomega) {
		return func(g Gomega) {
			ti := &tenancyv1alpha1.TenantInstallation{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: installNS, Name: name}, ti)).To(Succeed())
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "%+v", ti.Status.Conditions)
		}
	}

	BeforeAll(func(ctx SpecContext) {
		f := startProcessFixture(ctx, "failover", installNS, leaseNS, false, func() {
			for _, m := range replicas {
				m.stop()
			}
		})
		cp, k8s = f.cp, f.k8s
		dir, sim := f.dir, f.sim

		for i := range 2 {
			port, err := freePort()
			Expect(err).NotTo(HaveOccurred())
			// One instance: both replicas share the config (and its session key).
			if i == 0 {
				_, err = sim.writeManagerConfig(dir, env, installNS, port)
				Expect(err).NotTo(HaveOccurred())
			}
			m, err := startManagerProcess(managerSpec{
				name: fmt.Sprintf("replica-%d", i), configPath: dir + "/config-" + env + ".yaml", environment: env,
				leaderElectionID: id, leaseNamespace: leaseNS, kubeconfig: cp.KubeconfigPath, callbackPort: port,
			})
			Expect(err).NotTo(HaveOccurred())
			replicas = append(replicas, m)
		}
		for _, m := range replicas {
			readyCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
			err := m.waitReady(readyCtx)
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
	}, NodeTimeout(3*time.Minute))

	It("lets the follower take over when the leader is killed, while its callback server keeps answering", func(ctx SpecContext) {
		By("one replica leading the shared lease")
		var leader, follower *managerProcess
		Eventually(func(g Gomega) {
			g.Expect(leaseHolder(ctx)).NotTo(BeEmpty())
			leaders := 0
			for _, m := range replicas {
				if m.isLeader() {
					leaders++
					leader = m
				} else {
					follower = m
				}
			}
			g.Expect(leaders).To(Equal(1))
		}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
		oldHolder := leaseHolder(ctx)
		GinkgoWriter.Printf("leader %s (lease holder %s), follower %s\n", leader.name, oldHolder, follower.name)

		Expect(k8s.Create(ctx, newInstallation(installNS, env, "Cust1001"))).To(Succeed())
		Eventually(provisioned(ctx, "ha-cust1001")).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("polling the follower's callback endpoint during the failover")
		poller := pollHealth(fmt.Sprintf("http://127.0.0.1:%d/healthz", follower.callback), 50*time.Millisecond)

		By("killing the leader with SIGKILL")
		killedAt := time.Now()
		leader.kill9()
		Expect(k8s.Create(ctx, newInstallation(installNS, env, "Cust1002"))).To(Succeed())

		By("the follower taking the lease and provisioning the new installation")
		Eventually(func() bool { return follower.isLeader() }).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(BeTrue(), "follower log:\n%s", follower.Log())
		Expect(leaseHolder(ctx)).NotTo(Equal(oldHolder))
		Eventually(provisioned(ctx, "ha-cust1002")).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		GinkgoWriter.Printf("took over and provisioned in %s after the kill\n", time.Since(killedAt).Round(time.Millisecond))

		calls, failures := poller.finish()
		Expect(failures).To(BeEmpty(), "the surviving replica's callback endpoint failed during the failover")
		Expect(calls).To(BeNumerically(">", 20), "too few health calls to show anything")
		Expect(follower.exited()).To(BeFalse())
	}, NodeTimeout(4*time.Minute))
})
