package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// soUdefField is SuperOffice's UdefField, the fields we manage. The
// numeric UDefFieldId changes on every publish, so it is carried along but
// never used as identity: the ProgId is.
type soUdefField struct {
	UDefFieldId int    `json:"UDefFieldId"`
	ColumnId    int    `json:"ColumnId"`
	ProgId      string `json:"ProgId"`
	FieldLabel  string `json:"FieldLabel"`
	FieldType   string `json:"FieldType"`
}

// udfPublishWait is how long to come back later when SuperOffice is busy publishing.
const udfPublishWait = 15 * time.Second

// udfProvisioner manages user-defined fields by ProgId, with the publish flow.
type udfProvisioner struct{ *soBase }

func udfRemoteID(entity, progID string) string { return entity + ":" + progID }

// udfIdentity returns entity and ProgId of a recorded field.
func udfIdentity(e tenancyv1alpha1.ProvisionedArtifact) (entity, progID string, err error) {
	for _, s := range []string{e.RemoteID, identityFromID(e)} {
		if ent, pid, ok := strings.Cut(s, ":"); ok && ent != "" && pid != "" {
			return ent, pid, nil
		}
	}
	return "", "", fmt.Errorf("user-defined field %s: cannot tell its entity and ProgId from the inventory entry", e.ID)
}

func (p *udfProvisioner) layout(ctx context.Context, c *superoffice.Client, entity string, published bool) ([]soUdefField, error) {
	path := "v1/" + url.PathEscape(entity) + "/UdefLayout"
	if published {
		path += "/Published"
	}
	var fields []soUdefField
	err := c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefGet, Method: http.MethodGet, Path: path, Idempotent: true}, &fields)
	return fields, err
}

func findUdef(fields []soUdefField, progID string) (soUdefField, bool) {
	for _, f := range fields {
		if f.ProgId == progID {
			return f, true
		}
	}
	return soUdefField{}, false
}

func (p *udfProvisioner) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	spec, err := specOf[tenancyv1alpha1.UserDefinedField](d)
	if err != nil {
		return d.Entry, err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return d.Entry, err
	}
	what := fmt.Sprintf("user-defined field %s on %s", spec.ProgID, spec.Entity)
	matches := func(f soUdefField) bool { return f.FieldLabel == spec.Label && f.FieldType == string(spec.Type) }

	// Read, read, save, publish check, publish, rebuild: one run, not cut in the middle.
	if err := c.Expect(superoffice.OpUdefWrite, 6); err != nil {
		return d.Entry, p.convert(t.Installation, what, err)
	}
	// The published layout is what users see: when the field is there as
	// wanted, nothing else needs a look (one request per steady reconcile).
	pub, err := p.layout(ctx, c, spec.Entity, true)
	if err != nil {
		return d.Entry, p.convert(t.Installation, "read published layout for "+what, err)
	}
	if f, ok := findUdef(pub, spec.ProgID); ok && matches(f) {
		return ready(d, udfRemoteID(spec.Entity, spec.ProgID)), nil
	}
	working, err := p.layout(ctx, c, spec.Entity, false)
	if err != nil {
		return d.Entry, p.convert(t.Installation, "read layout for "+what, err)
	}
	// A crash between saving and publishing leaves the field in the working
	// layout only; then it is published now without saving again.
	if f, ok := findUdef(working, spec.ProgID); !ok || !matches(f) {
		next := make([]soUdefField, 0, len(working)+1)
		replaced := false
		for _, f := range working {
			if f.ProgId == spec.ProgID {
				f.FieldLabel, f.FieldType = spec.Label, string(spec.Type)
				replaced = true
			}
			next = append(next, f)
		}
		if !replaced {
			next = append(next, soUdefField{ProgId: spec.ProgID, FieldLabel: spec.Label, FieldType: string(spec.Type)})
		}
		// Saving the whole layout by ProgId is idempotent: a retry cannot add a second field.
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefWrite, Method: http.MethodPut, Path: "v1/" + url.PathEscape(spec.Entity) + "/UdefLayout",
			Body: next, Idempotent: true}, nil)
		if err != nil {
			return d.Entry, p.convert(t.Installation, "save "+what, err)
		}
	}
	if err := p.publish(ctx, c, spec.Entity); err != nil {
		return d.Entry, p.convert(t.Installation, "publish "+what, err)
	}
	return ready(d, udfRemoteID(spec.Entity, spec.ProgID)), nil
}

// publish runs SuperOffice's publish flow: no publish may be running, then
// publish, then rebuild the deltas.
func (p *udfProvisioner) publish(ctx context.Context, c *superoffice.Client, entity string) error {
	base := "v1/" + url.PathEscape(entity) + "/UdefLayout/Publish"
	var busy bool
	if err := c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefPublish, Method: http.MethodGet, Path: base, Idempotent: true}, &busy); err != nil {
		return err
	}
	if busy {
		return &superoffice.ThrottledError{RetryAfter: udfPublishWait, Reason: "SuperOffice is publishing user-defined fields; waiting for it to finish"}
	}
	if err := c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefPublish, Method: http.MethodPost, Path: base, Idempotent: true}, nil); err != nil {
		return err
	}
	return c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefPublish, Method: http.MethodPost, Path: "v1/Agents/Configuration/RebuildUdefDeltas", Idempotent: true}, nil)
}

func (p *udfProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	entity, progID, err := udfIdentity(e)
	if err != nil {
		return false, err.Error(), err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return false, "SuperOffice access is refused", err
	}
	what := fmt.Sprintf("user-defined field %s on %s", progID, entity)
	if err := c.Expect(superoffice.OpUdefDel, 5); err != nil {
		return false, "waiting for the rate limit", p.convert(t.Installation, what, err)
	}
	err = c.Do(ctx, superoffice.Request{Op: superoffice.OpUdefDel, Method: http.MethodDelete,
		Path: "v1/" + url.PathEscape(entity) + "/UdefLayout/" + url.PathEscape(progID), Idempotent: true}, nil)
	switch {
	case superoffice.IsNotFound(err):
		// Not in the working layout (a repeated delete): done unless the
		// removal was saved but never published.
		pub, err := p.layout(ctx, c, entity, true)
		if err != nil {
			return false, "could not read the published layout", p.convert(t.Installation, "verify "+what, err)
		}
		if _, still := findUdef(pub, progID); !still {
			return true, "", nil
		}
	case err != nil:
		return false, "SuperOffice did not remove the field", p.convert(t.Installation, "delete "+what, err)
	}
	if err := p.publish(ctx, c, entity); err != nil {
		return false, "the field is removed but not yet published", p.convert(t.Installation, "publish removal of "+what, err)
	}
	pub, err := p.layout(ctx, c, entity, true)
	if err != nil {
		return false, "could not read the published layout", p.convert(t.Installation, "verify "+what, err)
	}
	if _, still := findUdef(pub, progID); still {
		return false, fmt.Sprintf("%s is still in the published layout", what), nil
	}
	return true, "", nil
}
