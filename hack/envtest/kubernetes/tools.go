//go:build tools

// Package tools pins the Kubernetes control-plane programs that the tests
// run. They are built from source because no release download is reachable.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
