package provision

import (
	"context"
	"fmt"
	"strconv"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// stillExists is what a read-back after a delete reports when SuperOffice
// still holds the artifact as it was.
const stillExists = "still exists in SuperOffice after the delete"

// namedKind is a SuperOffice artifact kind identified by name among the
// app's own (web panels, buttons, webhooks). The kinds differ only in their
// requests; the find, keep-one, delete and verify logic is shared here so a
// fix to it reaches all of them.
type namedKind[T any] struct {
	*soBase
	// noun names the kind in messages and errors ("web panel"); plural in
	// the message for a failed listing ("web panels").
	noun, plural string
	// deleteOp is the operation a Delete reserves its requests under.
	deleteOp string
	id       func(T) int
	// list asks SuperOffice for the app's artifacts that may be named name;
	// live says which of them are named name and not deleted.
	list func(ctx context.Context, c *superoffice.Client, name string) ([]T, error)
	live func(x T, name string) bool
	// remove deletes for good; a 404 counts as done.
	remove func(ctx context.Context, c *superoffice.Client, id int) error
	// readBack reads an id after its delete: an error (404 = gone), or ""
	// when gone, or what is left ("is only marked deleted ...", stillExists).
	readBack func(ctx context.Context, c *superoffice.Client, id int) (string, error)
}

// findByName returns the live artifacts named name, in SuperOffice's order.
func (k namedKind[T]) findByName(ctx context.Context, c *superoffice.Client, name string) ([]T, error) {
	all, err := k.list(ctx, c, name)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, x := range all {
		if k.live(x, name) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (k namedKind[T]) removeID(ctx context.Context, c *superoffice.Client, id int) error {
	if err := k.remove(ctx, c, id); err != nil && !superoffice.IsNotFound(err) {
		return err
	}
	return nil
}

// namedWrite is what an Apply of one artifact sends. create returns the new
// id; update gets the artifact kept and sends nothing when it already
// matches. Their errors pass through redact (nil: unchanged) after the
// usual conversion, for requests that carry a secret.
type namedWrite[T any] struct {
	create func() (int, error)
	update func(keep T) error
	redact func(error) error
}

// apply finds the artifacts named name, creates one when there is none, and
// otherwise keeps the first, removes the duplicates (never made by this
// code, but possible from older versions or by hand through our app) and
// updates the one kept. It returns the remote id to record. The caller has
// reserved the requests (Expect) already.
func (k namedKind[T]) apply(ctx context.Context, c *superoffice.Client, ti *tenancyv1alpha1.TenantInstallation, name string, w namedWrite[T]) (int, error) {
	redact := w.redact
	if redact == nil {
		redact = func(err error) error { return err }
	}
	found, err := k.findByName(ctx, c, name)
	if err != nil {
		return 0, k.convert(ti, "find "+k.noun+" "+name, err)
	}
	if len(found) == 0 {
		id, err := w.create()
		if err != nil {
			return 0, redact(k.convert(ti, "create "+k.noun+" "+name, err))
		}
		if id == 0 {
			return 0, fmt.Errorf("create %s %s: SuperOffice returned no id", k.noun, name)
		}
		return id, nil
	}
	keep := found[0]
	for _, dup := range found[1:] {
		if err := k.removeID(ctx, c, k.id(dup)); err != nil {
			return 0, k.convert(ti, "remove duplicate "+k.noun+" "+name, err)
		}
	}
	if err := w.update(keep); err != nil {
		return 0, redact(k.convert(ti, "update "+k.noun+" "+name, err))
	}
	return k.id(keep), nil
}

// delete removes the artifact recorded in e: its RemoteID, or when only the
// intent was recorded (the create may have happened anyway) every live one
// named e.Name; each delete is read back to verify. The result is a
// Provisioner.Delete's.
func (k namedKind[T]) delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	c, err := k.client(ctx, t)
	if err != nil {
		return false, "SuperOffice access is refused", err
	}
	if err := c.Expect(k.deleteOp, 2); err != nil {
		return false, "waiting for the rate limit", k.convert(t.Installation, k.noun+" "+e.Name, err)
	}
	ids, err := k.deleteIDs(ctx, c, e)
	if err != nil {
		return false, "could not list the app's " + k.plural, k.convert(t.Installation, "find "+k.noun+" "+e.Name, err)
	}
	for _, id := range ids {
		if err := k.removeID(ctx, c, id); err != nil {
			return false, "SuperOffice did not remove the " + k.noun, k.convert(t.Installation, "delete "+k.noun+" "+e.Name, err)
		}
		left, err := k.readBack(ctx, c, id)
		switch {
		case superoffice.IsNotFound(err):
		case err != nil:
			return false, "could not verify the " + k.noun + " is gone", k.convert(t.Installation, "verify "+k.noun+" "+e.Name, err)
		case left != "":
			return false, fmt.Sprintf("%s %d %s", k.noun, id, left), nil
		}
	}
	return true, "", nil
}

func (k namedKind[T]) deleteIDs(ctx context.Context, c *superoffice.Client, e tenancyv1alpha1.ProvisionedArtifact) ([]int, error) {
	if id, err := strconv.Atoi(e.RemoteID); err == nil && id > 0 {
		return []int{id}, nil
	}
	found, err := k.findByName(ctx, c, e.Name)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(found))
	for _, x := range found {
		ids = append(ids, k.id(x))
	}
	return ids, nil
}
