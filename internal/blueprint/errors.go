package blueprint

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// InvalidError says a blueprint cannot be rendered as written. It carries
// every problem found, each naming the field it is about, so that a person
// can fix them all in one edit. The reconciler treats it as permanent (the
// blueprint must change), unlike other Render errors, which are retried.
type InvalidError struct {
	Errs field.ErrorList
}

func (e *InvalidError) Error() string {
	if e == nil || len(e.Errs) == 0 {
		return "invalid blueprint"
	}
	msgs := make([]string, 0, len(e.Errs))
	for _, err := range e.Errs {
		msgs = append(msgs, err.Error())
	}
	return "invalid blueprint: " + strings.Join(msgs, "; ")
}

// invalid turns a non-empty list into an *InvalidError and an empty one into
// a nil error (never a typed nil).
func invalid(errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Errs: errs}
}

// bad is field.Invalid without echoing the value: values can be whole
// manifests, far too long for a condition message.
func bad(p *field.Path, detail string) *field.Error {
	return field.Invalid(p, field.OmitValueType{}, detail)
}
