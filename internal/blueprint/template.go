package blueprint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Bounds on the work one blueprint can cause; a blueprint is written by a
// person and rendered for every tenant, so a mistake must fail fast rather
// than eat the operator's memory.
const (
	// MaxManifestBytes bounds one extra manifest as written.
	MaxManifestBytes = 64 << 10
	// MaxOutputBytes bounds what one template may produce, and every
	// intermediate string a template function makes.
	MaxOutputBytes = 256 << 10
	// maxFormatNumber bounds printf widths and precisions: "%999999999d"
	// would otherwise allocate a gigabyte before any output check.
	maxFormatDigits = 4
)

var errOutputTooLarge = fmt.Errorf("template output exceeds %d bytes", MaxOutputBytes)

// funcs are the functions templates may use. The text/template builtins that
// build strings (print, printf, println, html, js, urlquery) are replaced by
// size-checked versions, because nesting them multiplies their output.
var funcs = template.FuncMap{
	"lower":    bounded1(strings.ToLower),
	"upper":    bounded1(strings.ToUpper),
	"quote":    quote,
	"default":  defaultValue,
	"print":    boundedPrint(fmt.Sprint),
	"println":  boundedPrint(fmt.Sprintln),
	"printf":   printf,
	"html":     boundedPrint(template.HTMLEscaper),
	"js":       boundedPrint(template.JSEscaper),
	"urlquery": boundedPrint(template.URLQueryEscaper),
}

func bounded1(f func(string) string) func(string) (string, error) {
	return func(s string) (string, error) {
		out := f(s)
		if len(out) > MaxOutputBytes {
			return "", errOutputTooLarge
		}
		return out, nil
	}
}

// quote makes a double-quoted string, which is also a valid YAML scalar.
func quote(v any) (string, error) {
	s := fmt.Sprint(v)
	if len(s) > MaxOutputBytes {
		return "", errOutputTooLarge
	}
	out := strconv.Quote(s)
	if len(out) > MaxOutputBytes {
		return "", errOutputTooLarge
	}
	return out, nil
}

// defaultValue is `default FALLBACK VALUE`: VALUE unless it is empty.
func defaultValue(fallback, v any) any {
	switch x := v.(type) {
	case nil:
		return fallback
	case string:
		if x == "" {
			return fallback
		}
	case bool:
		if !x {
			return fallback
		}
	}
	return v
}

// argsSize estimates the formatted size of args before anything is built.
// Template values are strings and small scalars, so Sprint of a non-string is
// short.
func argsSize(args []any) int {
	n := 0
	for _, a := range args {
		if s, ok := a.(string); ok {
			n += len(s)
		} else {
			n += len(fmt.Sprint(a))
		}
		n++ // separator
	}
	return n
}

func boundedPrint(f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if argsSize(args) > MaxOutputBytes {
			return "", errOutputTooLarge
		}
		out := f(args...)
		if len(out) > MaxOutputBytes {
			return "", errOutputTooLarge
		}
		return out, nil
	}
}

func printf(format string, args ...any) (string, error) {
	if err := checkFormat(format); err != nil {
		return "", err
	}
	if len(format)+argsSize(args) > MaxOutputBytes {
		return "", errOutputTooLarge
	}
	out := fmt.Sprintf(format, args...)
	if len(out) > MaxOutputBytes {
		return "", errOutputTooLarge
	}
	return out, nil
}

// checkFormat refuses '*' widths and widths or precisions of more than
// maxFormatDigits digits.
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		digits := 0
		for i++; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '*':
				return errors.New("printf: '*' widths are not allowed")
			case c >= '0' && c <= '9':
				digits++
				if digits > maxFormatDigits {
					return errors.New("printf: width or precision too large")
				}
				continue
			case c == '.' || c == '[' || c == ']' || c == '+' || c == '-' || c == '#' || c == ' ':
				digits = 0
				continue
			}
			break // the verb (or "%%")
		}
	}
	return nil
}

// limitWriter fails once more than MaxOutputBytes are written.
type limitWriter struct{ b strings.Builder }

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > MaxOutputBytes {
		return 0, errOutputTooLarge
	}
	return w.b.Write(p)
}

// execute renders one template field. name is the field path, so parse and
// execution errors say which field they are about.
func execute(name, text string, v Values) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return "", fmt.Errorf("template does not parse: %w", err)
	}
	// Loops and template calls are the only ways a small template can do
	// unbounded work without producing output, and plain value substitution
	// never needs them.
	if len(t.Templates()) > 1 {
		return "", errors.New("template: define and block are not supported")
	}
	if t.Tree != nil {
		if err := checkNodes(t.Root); err != nil {
			return "", err
		}
	}
	var w limitWriter
	if err := t.Execute(&w, v); err != nil {
		return "", fmt.Errorf("template does not render: %w", err)
	}
	return w.b.String(), nil
}

func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return errors.New("template: range is not supported")
	case *parse.TemplateNode:
		return errors.New("template: template calls are not supported")
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkNodes(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkNodes(b.ElseList)
	}
	return nil
}
