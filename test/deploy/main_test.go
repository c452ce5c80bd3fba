// Package deploy_test proves that what GitOps deploys (config/) is valid:
// every overlay is rendered with the kustomize Go API and applied to a real
// API server (envtest), and the rendered objects are checked against the
// rules of issue 5 (HA, least privilege, side-by-side environments).
package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The test API server, shared by every test in the package.
var (
	restCfg  *rest.Config
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	warnings = &warningRecorder{}
)

// configDir is config/ of this checkout (go test runs in the package dir).
var configDir = filepath.Join("..", "..", "config")

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		// No silent skip: without a control plane nothing here is proven.
		fmt.Fprintln(os.Stderr, "test/deploy: KUBEBUILDER_ASSETS is not set; run `make test` or "+
			"KUBEBUILDER_ASSETS=$(hack/envtest.sh) go test ./test/deploy/...")
		return 1
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/deploy: start envtest: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "test/deploy: stop envtest: %v\n", err)
		}
	}()
	cfg = rest.CopyConfig(cfg)
	// Warnings (PodSecurity "restricted" violations, deprecated APIs) come
	// back as response headers; record them so tests can assert on them.
	cfg.WarningHandler = warnings
	restCfg = cfg
	if dyn, err = dynamic.NewForConfig(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "test/deploy: dynamic client: %v\n", err)
		return 1
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/deploy: http client: %v\n", err)
		return 1
	}
	// The dynamic mapper re-reads discovery on a miss, so kinds whose CRDs the
	// tests install are found afterwards.
	if mapper, err = apiutil.NewDynamicRESTMapper(cfg, httpClient); err != nil {
		fmt.Fprintf(os.Stderr, "test/deploy: rest mapper: %v\n", err)
		return 1
	}
	return m.Run()
}

// warningRecorder collects the API server's warnings. Tests apply one object
// at a time, so take() after each request returns that request's warnings.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// render builds one kustomization with the kustomize Go API, exactly as
// `kustomize build` (and Flux's kustomize-controller) would.
func render(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range resMap.Resources() {
		// Through JSON, so numbers are int64 as everywhere in client-go.
		raw, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// readObjects reads a multi-document YAML file (test fixtures).
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []*unstructured.Unstructured
	for doc := range strings.SplitSeq(string(raw), "\n---") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if m == nil {
			continue // an empty document
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			// Not a Kubernetes object (e.g. an overlay's config.yaml).
			u = &unstructured.Unstructured{Object: m}
		}
		out = append(out, u)
	}
	return out, nil
}

func isCRD(u *unstructured.Unstructured) bool {
	return u.GetKind() == "CustomResourceDefinition" && u.GroupVersionKind().Group == "apiextensions.k8s.io"
}

func isNamespace(u *unstructured.Unstructured) bool {
	return u.GetKind() == "Namespace" && u.GroupVersionKind().Group == ""
}

// applyOptions says how one rendering is applied.
type applyOptions struct {
	// fieldManager of the server-side apply.
	fieldManager string
	// dryRun applies everything but CRDs and Namespaces with dryRun=All;
	// CRDs and Namespaces are always applied for real, because the objects
	// that depend on them cannot even be dry-run without them.
	dryRun bool
	// force takes over fields owned by another manager. Off, a field that
	// two renderings set differently is a conflict, i.e. a collision.
	force bool
	// defaultNamespace is used for namespaced objects that name none.
	defaultNamespace string
}

// objectResult is what the API server said about one object.
type objectResult struct {
	obj      *unstructured.Unstructured
	warnings []string
}

// apply sends a rendering to the API server: CRDs first (and waits until they
// are established), then Namespaces, then everything else in rendering order.
// Every failure is collected, so one run shows all that is broken.
func apply(ctx context.Context, objs []*unstructured.Unstructured, o applyOptions) ([]objectResult, error) {
	var crds, namespaces, rest []*unstructured.Unstructured
	for _, u := range objs {
		switch {
		case isCRD(u):
			crds = append(crds, u)
		case isNamespace(u):
			namespaces = append(namespaces, u)
		default:
			rest = append(rest, u)
		}
	}
	var results []objectResult
	var errs []error
	for _, u := range crds {
		r, err := applyOne(ctx, u, o, false)
		results = append(results, r)
		errs = append(errs, err)
	}
	for _, u := range crds {
		errs = append(errs, waitEstablished(ctx, u.GetName()))
	}
	if err := errors.Join(errs...); err != nil {
		return results, err
	}
	for _, u := range namespaces {
		r, err := applyOne(ctx, u, o, false)
		results = append(results, r)
		errs = append(errs, err)
	}
	for _, u := range rest {
		r, err := applyOne(ctx, u, o, o.dryRun)
		results = append(results, r)
		errs = append(errs, err)
	}
	return results, errors.Join(errs...)
}

func applyOne(ctx context.Context, u *unstructured.Unstructured, o applyOptions, dryRun bool) (objectResult, error) {
	u = u.DeepCopy()
	res := objectResult{obj: u}
	id := fmt.Sprintf("%s %s", u.GroupVersionKind().Kind, u.GetName())
	gvk := u.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return res, fmt.Errorf("%s: no such API in the cluster: %w", id, err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if u.GetNamespace() == "" {
			u.SetNamespace(o.defaultNamespace)
		}
		id = fmt.Sprintf("%s %s/%s", gvk.Kind, u.GetNamespace(), u.GetName())
		ri = dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: o.fieldManager, Force: o.force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	warnings.take()
	_, err = ri.Apply(ctx, u.GetName(), u, opts)
	res.warnings = warnings.take()
	if err != nil {
		return res, fmt.Errorf("%s: %w", id, err)
	}
	return res, nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until the API server serves the CRD's kind.
func waitEstablished(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("get CRD %s: %w", name, err)
		}
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			if slices.ContainsFunc(conds, func(c any) bool {
				m, _ := c.(map[string]any)
				return m["type"] == "Established" && m["status"] == "True"
			}) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
