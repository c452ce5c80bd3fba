package e2e

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// TestE2E runs the Ginkgo specs of this package. There is deliberately no
// shared BeforeSuite: each spec file starts what it needs (a devenv, a
// control plane, manager processes) and stops it again.
func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	// The specs' own controller-runtime clients log here, shown on failure.
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter)))
	RunSpecs(t, "End-to-end")
}
