package e2e

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// TestE2E runs the Ginkgo specs of this package. There is deliberately no
// shared BeforeSuite: each spec file starts what it needs (a devenv, a
// control plane, manager processes) and stops it again.
func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end")
}
