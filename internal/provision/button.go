package provision

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// soTaskMenu is SuperOffice's TaskMenu (a button in a task menu).
type soTaskMenu struct {
	TaskMenuId int    `json:"TaskMenuId"`
	Name       string `json:"Name"`
	Location   string `json:"Location"`
	Url        string `json:"Url"`
	Deleted    bool   `json:"Deleted"`
}

// buttonProvisioner manages task-menu buttons, identified by name among the app's own.
type buttonProvisioner struct{ *soBase }

func (p *buttonProvisioner) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	spec, err := specOf[tenancyv1alpha1.Button](d)
	if err != nil {
		return d.Entry, err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return d.Entry, err
	}
	if err := c.Expect(superoffice.OpTaskMenuWrite, 2); err != nil {
		return d.Entry, p.convert(t.Installation, "button "+spec.Name, err)
	}
	found, err := p.findByName(ctx, c, spec.Name)
	if err != nil {
		return d.Entry, p.convert(t.Installation, "find button "+spec.Name, err)
	}
	want := soTaskMenu{Name: spec.Name, Location: spec.Location, Url: spec.URL}
	if len(found) == 0 {
		// SaveTaskMenu with id 0 creates; CreateDefaultTaskMenu would only
		// fetch a template and cost a request.
		var out soTaskMenu
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuWrite, Method: http.MethodPost, Path: "v1/Agents/List/SaveTaskMenu",
			Body: map[string]any{"TaskMenu": want}}, &out)
		if err != nil {
			return d.Entry, p.convert(t.Installation, "create button "+spec.Name, err)
		}
		if out.TaskMenuId == 0 {
			return d.Entry, fmt.Errorf("create button %s: SuperOffice returned no id", spec.Name)
		}
		return ready(d, strconv.Itoa(out.TaskMenuId)), nil
	}
	keep := found[0]
	for _, dup := range found[1:] {
		if err := p.remove(ctx, c, dup.TaskMenuId); err != nil {
			return d.Entry, p.convert(t.Installation, "remove duplicate button "+spec.Name, err)
		}
	}
	if keep.Location != want.Location || keep.Url != want.Url {
		want.TaskMenuId = keep.TaskMenuId
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuWrite, Method: http.MethodPost, Path: "v1/Agents/List/SaveTaskMenu",
			Body: map[string]any{"TaskMenu": want}, Idempotent: true}, nil)
		if err != nil {
			return d.Entry, p.convert(t.Installation, "update button "+spec.Name, err)
		}
	}
	return ready(d, strconv.Itoa(keep.TaskMenuId)), nil
}

func (p *buttonProvisioner) findByName(ctx context.Context, c *superoffice.Client, name string) ([]soTaskMenu, error) {
	var all []soTaskMenu
	if err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuList, Method: http.MethodPost, Path: "v1/Agents/List/GetAppTaskMenus", Idempotent: true}, &all); err != nil {
		return nil, err
	}
	var out []soTaskMenu
	for _, m := range all {
		if m.Name == name && !m.Deleted {
			out = append(out, m)
		}
	}
	return out, nil
}

func (p *buttonProvisioner) remove(ctx context.Context, c *superoffice.Client, id int) error {
	err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuDel, Method: http.MethodPost, Path: "v1/Agents/List/DeleteTaskMenu",
		Body: map[string]int{"TaskMenuId": id}, Idempotent: true}, nil)
	if superoffice.IsNotFound(err) {
		return nil
	}
	return err
}

func (p *buttonProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	c, err := p.client(ctx, t)
	if err != nil {
		return false, "SuperOffice access is refused", err
	}
	if err := c.Expect(superoffice.OpTaskMenuDel, 2); err != nil {
		return false, "waiting for the rate limit", p.convert(t.Installation, "button "+e.Name, err)
	}
	var ids []int
	if id, err := strconv.Atoi(e.RemoteID); err == nil && id > 0 {
		ids = []int{id}
	} else {
		found, err := p.findByName(ctx, c, e.Name)
		if err != nil {
			return false, "could not list the app's buttons", p.convert(t.Installation, "find button "+e.Name, err)
		}
		for _, m := range found {
			ids = append(ids, m.TaskMenuId)
		}
	}
	for _, id := range ids {
		if err := p.remove(ctx, c, id); err != nil {
			return false, "SuperOffice did not remove the button", p.convert(t.Installation, "delete button "+e.Name, err)
		}
		// GetTaskMenu answers null for a task menu that does not exist.
		var back *soTaskMenu
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuList, Method: http.MethodPost, Path: "v1/Agents/List/GetTaskMenu",
			Body: map[string]int{"TaskMenuId": id}, Idempotent: true}, &back)
		switch {
		case superoffice.IsNotFound(err) || (err == nil && back == nil):
		case err != nil:
			return false, "could not verify the button is gone", p.convert(t.Installation, "verify button "+e.Name, err)
		default:
			return false, fmt.Sprintf("button %d still exists in SuperOffice after the delete", id), nil
		}
	}
	return true, "", nil
}
