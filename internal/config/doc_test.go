package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReferenceCoversEveryField keeps docs/configuration.md from drifting:
// every field the YAML file can carry must appear in its Fields table.
func TestReferenceCoversEveryField(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	paths := yamlPaths(reflect.TypeFor[Config](), "")
	if len(paths) < 10 {
		t.Fatalf("found only %d fields; the walk is broken: %v", len(paths), paths)
	}
	for _, p := range paths {
		if documented(doc, p) {
			continue
		}
		t.Errorf("docs/configuration.md does not document the field %q", p)
	}
}

// documented accepts "`a.b.c`" or, on one line, "`a.b.x`" followed by "`.c`".
func documented(doc, path string) bool {
	if strings.Contains(doc, "`"+path+"`") {
		return true
	}
	i := strings.LastIndex(path, ".")
	if i < 0 {
		return false
	}
	parent, leaf := path[:i], path[i:]
	for _, line := range strings.Split(doc, "\n") {
		if strings.Contains(line, "`"+parent+".") && strings.Contains(line, "`"+leaf+"`") {
			return true
		}
	}
	return false
}

// yamlPaths lists the dotted json paths of every leaf field of t.
func yamlPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" || !f.IsExported() {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			out = append(out, yamlPaths(ft, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}
