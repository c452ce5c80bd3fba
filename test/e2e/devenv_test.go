package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// The names the sample `default` blueprint (config/samples) gives its
// artifacts, one of each kind the operator provisions.
var (
	sampleKubernetesKinds  = []string{"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ConfigMap"}
	sampleSuperOfficeNames = []string{"tenant-operator-overview", "open-in-partner-app", "tenant-operator-contacts"}
	sampleSimulatorKinds   = []string{"WebPanel", "TaskMenu", "UdefField", "Preference", "Webhook"}
)

const (
	devTenant       = "Cust12345"
	devInstallation = "dev-cust12345"
	devNamespace    = "tenant-operator-system"
)

// simObject is one artifact inside the simulated SuperOffice tenant.
type simObject struct {
	Kind    string
	ID      string
	Name    string
	Deleted bool
}

func simObjects(c *http.Client, simURL string) ([]simObject, error) {
	status, body, err := httpGet(c, simURL+"/_devenv/tenants/"+devTenant+"/objects")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("simulator objects: HTTP %d", status)
	}
	var out []simObject
	return out, json.Unmarshal([]byte(body), &out)
}

// liveKinds are the kinds of the simulator's objects that are not deleted.
func liveKinds(objs []simObject) []string {
	var kinds []string
	for _, o := range objs {
		if !o.Deleted {
			kinds = append(kinds, o.Kind)
		}
	}
	return kinds
}

var _ = Describe("make run (cmd/devenv)", Ordered, func() {
	var (
		dev     *devenvProcess
		started time.Time
		pids    []int
	)

	BeforeAll(func(ctx SpecContext) {
		started = time.Now()
		startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		var err error
		dev, err = startDevenv(startCtx, "--auto-consent")
		DeferCleanup(dev.kill)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("devenv ready in %s:\n%s", time.Since(started).Round(time.Millisecond), dev.Output())
	}, NodeTimeout(4*time.Minute))

	It("prints the install URL, a kubeconfig and ready-to-paste kubectl commands", func() {
		Expect(dev.Field("Install the app")).To(MatchRegexp(`^http://127\.0\.0\.1:\d+/install$`))
		Expect(dev.Field("Kubeconfig")).To(BeAnExistingFile())
		Expect(dev.Field("Work directory")).To(BeADirectory())
		Expect(dev.Output()).To(ContainSubstring("--kubeconfig " + dev.Field("Kubeconfig") + " get ti -A"))
		Expect(dev.Output()).To(ContainSubstring("describe ti -n " + devNamespace + " " + devInstallation))
		Expect(dev.Output()).To(MatchRegexp(`ready \(embedded\) in \d`))

		By("the kubeconfig reaching an API server that has the CRDs and the sample blueprint")
		k8s, err := kubeClientFor(dev.Field("Kubeconfig"))
		Expect(err).NotTo(HaveOccurred())
		bp := &tenancyv1alpha1.TenantBlueprint{}
		Expect(k8s.Get(context.Background(), client.ObjectKey{Name: "default"}, bp)).To(Succeed())
		Expect(bp.Spec.SuperOffice.WebPanels).NotTo(BeEmpty())
	})

	It("completes one install through HTTP and the status page lists what is provisioned", func(ctx SpecContext) {
		jar, err := cookiejar.New(nil)
		Expect(err).NotTo(HaveOccurred())
		browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}

		By("following /install → simulator authorize (auto-consent) → /callback → status page")
		resp, err := browser.Get(dev.Field("Install the app"))
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		statusURL := resp.Request.URL.String()
		Expect(statusURL).To(Equal(dev.BaseURL() + "/installations/" + devInstallation))

		By("the installation being provisioned")
		k8s, err := kubeClientFor(dev.Field("Kubeconfig"))
		Expect(err).NotTo(HaveOccurred())
		ti := &tenancyv1alpha1.TenantInstallation{}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: devNamespace, Name: devInstallation}, ti)).To(Succeed())
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "conditions: %+v", ti.Status.Conditions)
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		var kinds, names []string
		targets := map[tenancyv1alpha1.Target]int{}
		for _, a := range ti.Status.Provisioned {
			kinds, names = append(kinds, a.Kind), append(names, a.Name)
			targets[a.Target]++
		}
		Expect(kinds).To(ContainElements(sampleKubernetesKinds))
		Expect(names).To(ContainElements(sampleSuperOfficeNames))
		Expect(targets[tenancyv1alpha1.TargetSuperOffice]).To(BeNumerically(">=", 5), "one of each SuperOffice kind: %v", kinds)

		By("the status page listing every provisioned artifact")
		Eventually(func(g Gomega) {
			status, body, err := httpGet(browser, statusURL)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK))
			text := html.UnescapeString(body)
			g.Expect(text).To(ContainSubstring("What is provisioned"))
			g.Expect(text).To(ContainSubstring("Ready"))
			for _, a := range ti.Status.Provisioned {
				g.Expect(text).To(ContainSubstring(">"+a.Name+"<"), "artifact %s %s", a.Kind, a.Name)
			}
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("the simulated SuperOffice tenant holding one object of each kind")
		objs, err := simObjects(browser, dev.Field("SuperOffice sim"))
		Expect(err).NotTo(HaveOccurred())
		Expect(liveKinds(objs)).To(ContainElements(sampleSimulatorKinds))
	})

	It("stops everything on SIGINT and leaves no process or temp dir behind", func() {
		pid := dev.cmd.Process.Pid
		pids = descendants(pid)
		names := make([]string, 0, len(pids))
		for _, p := range pids {
			names = append(names, procName(p))
		}
		GinkgoWriter.Printf("devenv %d runs %v %v\n", pid, pids, names)
		// The control plane and the manager must be among them, or this
		// check would prove nothing.
		Expect(names).To(ContainElements("etcd", "kube-apiserver", "kube-controller"))
		m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(dev.Output())
		Expect(m).NotTo(BeNil(), "devenv printed no manager pid")
		managerPID, err := strconv.Atoi(m[1])
		Expect(err).NotTo(HaveOccurred())
		Expect(pids).To(ContainElement(managerPID))
		workDir := dev.Field("Work directory")

		t := time.Now()
		Expect(dev.interrupt(90*time.Second)).To(Succeed(), "devenv output:\n%s", dev.Output())
		GinkgoWriter.Printf("devenv stopped in %s\n", time.Since(t).Round(time.Millisecond))
		Expect(dev.Output()).To(ContainSubstring("Stopped in"))

		for _, p := range pids {
			Eventually(func() bool { return alive(p) }).WithTimeout(5*time.Second).Should(BeFalse(), "process %d (%s) survived", p, procName(p))
		}
		Expect(processGroupEmpty(pid)).To(BeTrue(), "devenv's process group still has members")
		Expect(workDir).NotTo(BeAnExistingFile())
		_, err = os.Stat(workDir)
		Expect(os.IsNotExist(err)).To(BeTrue(), "work directory %s still exists", workDir)
		left, err := os.ReadDir(dev.tmpDir)
		Expect(err).NotTo(HaveOccurred())
		var leftNames []string
		for _, e := range left {
			leftNames = append(leftNames, filepath.Join(dev.tmpDir, e.Name()))
		}
		Expect(leftNames).To(BeEmpty(), "devenv left files in its TMPDIR: %s", strings.Join(leftNames, ", "))
	})
})
