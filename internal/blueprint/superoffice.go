package blueprint

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// DefaultPreferenceLevel is the level of a preference that names none.
const DefaultPreferenceLevel = "Database"

// renderSuperOffice returns a copy of in with its templates rendered.
func (r Renderer) renderSuperOffice(in *tenancyv1alpha1.SuperOfficeBlueprint, v Values, p *field.Path) (tenancyv1alpha1.SuperOfficeBlueprint, field.ErrorList) {
	out := *in.DeepCopy()
	var errs field.ErrorList

	names := map[string]int{}
	for i := range out.WebPanels {
		wp := &out.WebPanels[i]
		ip := p.Child("webPanels").Index(i)
		errs = append(errs, uniqueName(ip.Child("name"), wp.Name, names, i, p.Child("webPanels"))...)
		if wp.VisibleIn == "" {
			errs = append(errs, field.Required(ip.Child("visibleIn"), "the SuperOffice location of the panel"))
		}
		wp.URL = renderURL(ip.Child("url"), wp.URL, v, true, &errs)
		wp.Description = r.describe(wp.Description)
	}

	progIDs := map[string]int{}
	for i := range out.UserDefinedFields {
		f := &out.UserDefinedFields[i]
		ip := p.Child("userDefinedFields").Index(i)
		errs = append(errs, uniqueName(ip.Child("progID"), f.ProgID, progIDs, i, p.Child("userDefinedFields"))...)
		if f.Entity == "" {
			errs = append(errs, field.Required(ip.Child("entity"), "the entity the field belongs to"))
		}
		if f.Type == "" {
			errs = append(errs, field.Required(ip.Child("type"), "the type of the field"))
		}
	}

	names = map[string]int{}
	for i := range out.Buttons {
		b := &out.Buttons[i]
		ip := p.Child("buttons").Index(i)
		errs = append(errs, uniqueName(ip.Child("name"), b.Name, names, i, p.Child("buttons"))...)
		b.URL = renderURL(ip.Child("url"), b.URL, v, true, &errs)
	}

	prefs := map[string]int{}
	for i := range out.Preferences {
		pr := &out.Preferences[i]
		ip := p.Child("preferences").Index(i)
		if pr.Level == "" {
			pr.Level = DefaultPreferenceLevel
		}
		if pr.Section == "" {
			errs = append(errs, field.Required(ip.Child("section"), ""))
		}
		if pr.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		// A preference is one (level, section, key); the same key may be set
		// at two levels.
		if pr.Section != "" && pr.Key != "" {
			id := pr.Level + "/" + pr.Section + "/" + pr.Key
			if j, dup := prefs[id]; dup {
				errs = append(errs, bad(ip, fmt.Sprintf("duplicate: section %q key %q at level %s is already set by %s", pr.Section, pr.Key, pr.Level, p.Child("preferences").Index(j))))
			} else {
				prefs[id] = i
			}
		}
		val, err := execute(ip.Child("value").String(), pr.Value, v)
		if err != nil {
			errs = append(errs, bad(ip.Child("value"), err.Error()))
		}
		pr.Value = val
	}

	names = map[string]int{}
	for i := range out.Webhooks {
		w := &out.Webhooks[i]
		ip := p.Child("webhooks").Index(i)
		errs = append(errs, uniqueName(ip.Child("name"), w.Name, names, i, p.Child("webhooks"))...)
		if len(w.Events) == 0 {
			errs = append(errs, field.Required(ip.Child("events"), "at least one event, e.g. contact.created"))
		}
		for j, e := range w.Events {
			if strings.TrimSpace(e) == "" {
				errs = append(errs, field.Required(ip.Child("events").Index(j), "an event name, e.g. contact.created"))
			}
		}
		// Empty means the operator's own receiver, filled in by the provisioner.
		if w.TargetURL != "" {
			w.TargetURL = renderURL(ip.Child("targetURL"), w.TargetURL, v, false, &errs)
		}
	}
	return out, errs
}

// uniqueName requires name and that no earlier entry of the same list uses it.
func uniqueName(p *field.Path, name string, seen map[string]int, i int, list *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if j, dup := seen[name]; dup {
		return field.ErrorList{bad(p, fmt.Sprintf("duplicate: %q is already used by %s", name, list.Index(j)))}
	}
	seen[name] = i
	return nil
}

// renderURL renders a URL template and requires an absolute http(s) URL
// without credentials: SuperOffice shows and calls these URLs for every user.
func renderURL(p *field.Path, tmpl string, v Values, required bool, errs *field.ErrorList) string {
	if tmpl == "" && required {
		*errs = append(*errs, field.Required(p, "an absolute http(s) URL"))
		return ""
	}
	s, err := execute(p.String(), tmpl, v)
	if err != nil {
		*errs = append(*errs, bad(p, err.Error()))
		return ""
	}
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	switch {
	case err != nil:
		*errs = append(*errs, bad(p, fmt.Sprintf("renders %q, which is not a URL", clip(s))))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		*errs = append(*errs, bad(p, fmt.Sprintf("renders %q; it must be an absolute http(s) URL", clip(s))))
	case u.User != nil:
		*errs = append(*errs, bad(p, "must not carry credentials"))
	}
	return s
}

// describe appends the app name to a web panel description unless it is
// already there (SuperOffice certification rule).
func (r Renderer) describe(d string) string {
	switch {
	case r.AppName == "" || strings.Contains(d, r.AppName):
		return d
	case strings.TrimSpace(d) == "":
		return r.AppName
	default:
		return d + " (" + r.AppName + ")"
	}
}
