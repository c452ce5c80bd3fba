package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/test/controlplane"
)

// chromiumPath installs Debian's chromium through hack/install-chromium.sh
// when it is missing, and returns its path.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	if fileExistsE2E("/usr/bin/chromium") {
		return "/usr/bin/chromium", nil
	}
	cmd := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "install-chromium.sh"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("the browser test needs Debian's chromium at /usr/bin/chromium and hack/install-chromium.sh could not install it (%w): %s\nInstall it with: apt-get update && apt-get install -y chromium", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func fileExistsE2E(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// pageText is the visible text of the current page; a page that is
// reloading itself (the status page refreshes) may fail once, so callers poll.
func pageText(ctx context.Context) (string, string, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		return "", "", err
	}
	loc, err := chromedp.Run(c, chromedp.Location())
	if err != nil {
		return "", "", err
	}
	text, err := chromedp.Run(c, chromedp.Evaluate[string](`document.body.innerText`))
	return text, loc, err
}

func screenshot(ctx context.Context, name string) string {
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	Expect(err).NotTo(HaveOccurred())
	dir := outputDir("screenshots")
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	path := filepath.Join(dir, name)
	Expect(os.WriteFile(path, buf, 0o644)).To(Succeed())
	GinkgoWriter.Printf("screenshot %s (%d bytes)\n", path, len(buf))
	return path
}

var _ = Describe("an administrator's browser against make run", Ordered, func() {
	var (
		dev     *devenvProcess
		browser context.Context
		k8s     client.Client
	)

	BeforeAll(func(ctx SpecContext) {
		chromium, err := chromiumPath()
		Expect(err).NotTo(HaveOccurred())

		startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		// The simulator shows its consent page here, as for a person.
		dev, err = startDevenv(startCtx)
		DeferCleanup(dev.kill)
		Expect(err).NotTo(HaveOccurred())
		k8s, err = kubeClientFor(dev.Field("Kubeconfig"))
		Expect(err).NotTo(HaveOccurred())

		profile, err := os.MkdirTemp("", "e2e-chromium-profile-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, profile)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(chromium),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.UserDataDir(profile),
			chromedp.WindowSize(1100, 900),
		)
		var cancelBrowser context.CancelFunc
		browser, cancelBrowser = chromedp.NewContext(alloc)
		DeferCleanup(func() { cancelBrowser(); cancelAlloc() })
		// Starts the browser now, so a broken chromium fails here clearly.
		Expect(chromedp.Do(browser)).To(Succeed(), "start %s", chromium)
	}, NodeTimeout(5*time.Minute))

	It("installs, lists every provisioned artifact, uninstalls and shows nothing left", func(ctx SpecContext) {
		statusURL := dev.BaseURL() + "/installations/" + devInstallation
		approve := chromedp.CSS(`button[value="approve"]`)

		By("opening the install URL and consenting at the simulator")
		Expect(chromedp.Do(browser, chromedp.Navigate(dev.Field("Install the app")))).To(Succeed())
		Expect(chromedp.Do(browser, chromedp.WaitVisible(approve))).To(Succeed())
		screenshot(browser, "1-consent.png")
		Expect(chromedp.Do(browser, chromedp.Click(approve))).To(Succeed())

		By("landing on the status page, which fills with the provisioned list")
		ti := &tenancyv1alpha1.TenantInstallation{}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: devNamespace, Name: devInstallation}, ti)).To(Succeed())
			g.Expect(ti.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady), "conditions: %+v", ti.Status.Conditions)
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(ti.Status.Provisioned).NotTo(BeEmpty())
		var text string
		Eventually(func(g Gomega) {
			t, loc, err := pageText(browser)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(loc).To(Equal(statusURL))
			g.Expect(t).To(ContainSubstring("What is provisioned"))
			for _, a := range ti.Status.Provisioned {
				g.Expect(t).To(ContainSubstring(a.Name), "artifact %s %s", a.Kind, a.Name)
			}
			text = t
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		for _, k := range sampleKubernetesKinds {
			Expect(text).To(ContainSubstring(k))
		}
		for _, n := range sampleSuperOfficeNames {
			Expect(text).To(ContainSubstring(n))
		}
		screenshot(browser, "2-status-provisioned.png")

		By("clicking uninstall, signing in again and seeing what will be removed")
		Expect(chromedp.Do(browser, chromedp.Click(chromedp.Search(`//a[contains(., "Uninstall the app")]`)))).To(Succeed())
		Expect(chromedp.Do(browser, chromedp.WaitVisible(approve))).To(Succeed())
		Expect(chromedp.Do(browser, chromedp.Click(approve))).To(Succeed())
		Eventually(func(g Gomega) {
			t, loc, err := pageText(browser)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(loc).To(Equal(statusURL + "/uninstall"))
			g.Expect(t).To(ContainSubstring("Uninstall the app from " + devTenant))
			for _, a := range ti.Status.Provisioned {
				g.Expect(t).To(ContainSubstring(a.Name))
			}
		}).WithTimeout(20 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		screenshot(browser, "3-uninstall-confirm.png")
		Expect(chromedp.Do(browser, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))).To(Succeed())

		By("the page following the removal until nothing is left")
		Eventually(func(g Gomega) {
			t, loc, err := pageText(browser)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(loc).To(HavePrefix(statusURL))
			g.Expect(t).To(ContainSubstring("Uninstalled"))
			g.Expect(t).NotTo(ContainSubstring("What is provisioned"))
			for _, n := range sampleSuperOfficeNames {
				g.Expect(t).NotTo(ContainSubstring(n))
			}
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
		screenshot(browser, "4-uninstalled.png")

		By("nothing being left in the cluster or in the SuperOffice tenant")
		err := k8s.Get(ctx, client.ObjectKey{Namespace: devNamespace, Name: devInstallation}, &tenancyv1alpha1.TenantInstallation{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "installation still exists: %v", err)
		if ti.Status.Namespace != "" {
			Eventually(func() bool {
				err := k8s.Get(ctx, client.ObjectKey{Name: ti.Status.Namespace}, &corev1.Namespace{})
				return apierrors.IsNotFound(err)
			}).WithTimeout(60*time.Second).WithPolling(time.Second).Should(BeTrue(), "tenant namespace %s is still there", ti.Status.Namespace)
		}
		objs, err := simObjects(http.DefaultClient, dev.Field("SuperOffice sim"))
		Expect(err).NotTo(HaveOccurred())
		Expect(liveKinds(objs)).To(BeEmpty(), "objects left in the tenant: %+v", objs)

		By("stopping make run with Ctrl-C")
		err = dev.interrupt(90 * time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			Fail("devenv did not stop")
		}
		Expect(err).NotTo(HaveOccurred(), "devenv output:\n%s", dev.Output())
	})
})
