package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// defaultPreferenceLevel matches the blueprint's default.
const defaultPreferenceLevel = "Database"

type soPreference struct {
	Section string `json:"Section"`
	Key     string `json:"Key"`
	Level   string `json:"Level"`
	Value   string `json:"Value"`
}

// preferenceProvisioner manages preferences, identified by section, key and level.
type preferenceProvisioner struct{ *soBase }

// prefRemoteID is "section/key/level" with section and key path-escaped, so it splits back exactly.
func prefRemoteID(section, key, level string) string {
	return url.PathEscape(section) + "/" + url.PathEscape(key) + "/" + level
}

// prefIdentity returns section, key and level of a recorded preference.
func prefIdentity(e tenancyv1alpha1.ProvisionedArtifact) (section, key, level string, err error) {
	if parts := strings.Split(e.RemoteID, "/"); len(parts) == 3 {
		s, err1 := url.PathUnescape(parts[0])
		k, err2 := url.PathUnescape(parts[1])
		if err1 == nil && err2 == nil && s != "" && k != "" && parts[2] != "" {
			return s, k, parts[2], nil
		}
	}
	// Without a remote id, the inventory id "section/key/level" is all
	// there is; it splits exactly when section and key hold no "/".
	id := identityFromID(e)
	first, last := strings.Index(id, "/"), strings.LastIndex(id, "/")
	if first > 0 && last > first+1 && last < len(id)-1 {
		return id[:first], id[first+1 : last], id[last+1:], nil
	}
	return "", "", "", fmt.Errorf("preference %s: cannot tell its section, key and level from the inventory entry", e.ID)
}

func prefPath(section, key, level string) string {
	return "v1/Preference/" + url.PathEscape(section) + "/" + url.PathEscape(key) + "/" + url.PathEscape(level)
}

func (p *preferenceProvisioner) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	spec, err := specOf[tenancyv1alpha1.Preference](d)
	if err != nil {
		return d.Entry, err
	}
	level := spec.Level
	if level == "" {
		level = defaultPreferenceLevel
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return d.Entry, err
	}
	what := fmt.Sprintf("preference %s/%s (%s)", spec.Section, spec.Key, level)
	path := prefPath(spec.Section, spec.Key, level)
	if err := c.Expect(superoffice.OpPrefWrite, 2); err != nil {
		return d.Entry, p.convert(t.Installation, what, err)
	}
	var cur soPreference
	err = c.Do(ctx, superoffice.Request{Op: superoffice.OpPrefGet, Method: http.MethodGet, Path: path, Idempotent: true}, &cur)
	switch {
	case superoffice.IsNotFound(err):
	case err != nil:
		return d.Entry, p.convert(t.Installation, "read "+what, err)
	case cur.Value == spec.Value:
		return ready(d, prefRemoteID(spec.Section, spec.Key, level)), nil
	}
	// Setting a preference is idempotent, so it may be retried.
	err = c.Do(ctx, superoffice.Request{Op: superoffice.OpPrefWrite, Method: http.MethodPut, Path: path,
		Query: url.Values{"value": {spec.Value}}, Idempotent: true}, nil)
	if err != nil {
		return d.Entry, p.convert(t.Installation, "set "+what, err)
	}
	return ready(d, prefRemoteID(spec.Section, spec.Key, level)), nil
}

func (p *preferenceProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	section, key, level, err := prefIdentity(e)
	if err != nil {
		return false, err.Error(), err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return false, "SuperOffice access is refused", err
	}
	what := fmt.Sprintf("preference %s/%s (%s)", section, key, level)
	if err := c.Expect(superoffice.OpPrefDel, 2); err != nil {
		return false, "waiting for the rate limit", p.convert(t.Installation, what, err)
	}
	// There is no REST DELETE for preferences; the agent removes one level.
	err = c.Do(ctx, superoffice.Request{Op: superoffice.OpPrefDel, Method: http.MethodPost, Path: "v1/Agents/Preference/DeletePreference",
		Body: soPreference{Section: section, Key: key, Level: level}, Idempotent: true}, nil)
	if err != nil && !superoffice.IsNotFound(err) {
		return false, "SuperOffice did not remove the preference", p.convert(t.Installation, "delete "+what, err)
	}
	err = c.Do(ctx, superoffice.Request{Op: superoffice.OpPrefGet, Method: http.MethodGet, Path: prefPath(section, key, level), Idempotent: true}, nil)
	switch {
	case superoffice.IsNotFound(err):
		return true, "", nil
	case err != nil:
		return false, "could not verify the preference is gone", p.convert(t.Installation, "verify "+what, err)
	default:
		return false, what + " is still set in SuperOffice after the delete", nil
	}
}
