package blueprint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// serverFields are metadata fields the API server owns; a manifest copied
// from `kubectl get -o yaml` carries them, and applying them would fail or
// pin stale values.
var serverFields = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}

// extraManifests renders the blueprint's extra manifests. The field errors
// are problems of the blueprint; the plain error is a Mapper failure worth
// retrying.
func (r Renderer) extraManifests(manifests []string, p *field.Path, v Values, ns string, nsKnown bool, labels map[string]string) ([]*unstructured.Unstructured, field.ErrorList, error) {
	var errs field.ErrorList
	if len(manifests) > MaxExtraManifests {
		errs = append(errs, field.TooMany(p, len(manifests), MaxExtraManifests))
		manifests = manifests[:MaxExtraManifests]
	}
	seen := map[objectKey]int{}
	var out []*unstructured.Unstructured
	for i, m := range manifests {
		ip := p.Index(i)
		u, err := parseManifest(ip, m, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gv, perr := schema.ParseGroupVersion(u.GetAPIVersion())
		if perr != nil {
			errs = append(errs, bad(ip.Child("apiVersion"), perr.Error()))
			continue
		}
		gk := schema.GroupKind{Group: gv.Group, Kind: u.GetKind()}
		mapping, merr := r.Mapper.RESTMapping(gk, gv.Version)
		switch {
		case meta.IsNoMatchError(merr):
			errs = append(errs, bad(ip.Child("kind"), fmt.Sprintf("unknown kind %q in %q", gk.Kind, gv.String())))
			continue
		case merr != nil:
			return nil, nil, fmt.Errorf("resolve kind of %s: %w", ip, merr)
		case mapping.Scope.Name() == meta.RESTScopeNameRoot:
			errs = append(errs, bad(ip.Child("kind"), fmt.Sprintf("%s is cluster-scoped; extra manifests must be namespaced objects (the tenant namespace is the only cluster-scoped object, and it is made for you)", gk.Kind)))
			continue
		}
		if got := u.GetNamespace(); got != "" && nsKnown && got != ns {
			errs = append(errs, bad(ip.Child("metadata", "namespace"), fmt.Sprintf("aimed at another namespace %q; extra manifests land in the tenant namespace %q", clip(got), ns)))
			continue
		}
		key := objectKey{GroupKind: gk, Name: u.GetName()}
		if builtinKeys[key] {
			errs = append(errs, bad(ip.Child("metadata", "name"), fmt.Sprintf("duplicate: %s is a built-in object of every tenant", key)))
			continue
		}
		if j, dup := seen[key]; dup {
			errs = append(errs, bad(ip.Child("metadata", "name"), fmt.Sprintf("duplicate: %s is already defined by %s", key, p.Index(j))))
			continue
		}
		seen[key] = i

		u.SetNamespace(ns)
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		maps.Copy(l, labels)
		u.SetLabels(l)
		delete(u.Object, "status")
		for _, f := range serverFields {
			unstructured.RemoveNestedField(u.Object, "metadata", f)
		}
		out = append(out, u)
	}
	return out, errs, nil
}

// parseManifest renders one manifest template and parses it as exactly one
// object with apiVersion, kind and metadata.name.
func parseManifest(p *field.Path, tmpl string, v Values) (*unstructured.Unstructured, *field.Error) {
	if len(tmpl) > MaxManifestBytes {
		return nil, bad(p, fmt.Sprintf("manifest is %d bytes; at most %d are allowed", len(tmpl), MaxManifestBytes))
	}
	text, err := execute(p.String(), tmpl, v)
	if err != nil {
		return nil, bad(p, err.Error())
	}
	doc, err := singleDocument(text)
	if err != nil {
		return nil, bad(p, err.Error())
	}
	j, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return nil, bad(p, fmt.Sprintf("not YAML: %v", err))
	}
	var parsed any
	if err := utiljson.Unmarshal(j, &parsed); err != nil {
		return nil, bad(p, fmt.Sprintf("not an object: %v", err))
	}
	obj, ok := parsed.(map[string]any)
	if !ok {
		return nil, bad(p, "must be one YAML mapping (an object with apiVersion, kind and metadata)")
	}
	if err := checkObject(obj); err != nil {
		return nil, bad(p, err.Error())
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// singleDocument returns the only non-empty YAML document of text. The
// apimachinery reader splits on "---" lines; yaml.v3 then catches documents
// the splitter does not see (such as "--- value") and syntax errors.
func singleDocument(text string) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var found []byte
	n := 0
	for {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not YAML: %w", err)
		}
		docs, err := countDocuments(chunk)
		if err != nil {
			return nil, fmt.Errorf("not YAML: %w", err)
		}
		if docs == 0 {
			continue
		}
		n += docs
		found = chunk
	}
	switch {
	case n == 0:
		return nil, errors.New("is empty; it must hold exactly one object")
	case n > 1:
		return nil, fmt.Errorf("holds %d YAML documents; it must hold exactly one object", n)
	}
	return found, nil
}

func countDocuments(chunk []byte) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(chunk))
	n := 0
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		// A document of only comments, or an explicit null, holds no object.
		if len(node.Content) == 0 || (node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null") {
			continue
		}
		n++
	}
}

// checkObject checks the fields the renderer relies on, with types, so that
// the unstructured accessors used later cannot misread them.
func checkObject(obj map[string]any) error {
	var problems []string
	apiVersion, _, err := unstructured.NestedString(obj, "apiVersion")
	if err != nil || apiVersion == "" {
		problems = append(problems, "apiVersion is missing")
	}
	kind, _, err := unstructured.NestedString(obj, "kind")
	if err != nil || kind == "" {
		problems = append(problems, "kind is missing")
	}
	if md, ok := obj["metadata"]; !ok {
		problems = append(problems, "metadata.name is missing")
	} else if _, ok := md.(map[string]any); !ok {
		problems = append(problems, "metadata must be a mapping")
	} else {
		name, _, err := unstructured.NestedString(obj, "metadata", "name")
		switch {
		case err != nil || name == "":
			problems = append(problems, "metadata.name is missing")
		default:
			if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
				problems = append(problems, fmt.Sprintf("metadata.name %q is not a valid name: %s", clip(name), strings.Join(msgs, "; ")))
			}
		}
		if _, _, err := unstructured.NestedString(obj, "metadata", "namespace"); err != nil {
			problems = append(problems, "metadata.namespace must be a string")
		}
		if _, _, err := unstructured.NestedStringMap(obj, "metadata", "labels"); err != nil {
			problems = append(problems, "metadata.labels must map strings to strings")
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
