package provision

import (
	"context"
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

// kind is how buttons are found, deleted and read back.
func (p *buttonProvisioner) kind() namedKind[soTaskMenu] {
	return namedKind[soTaskMenu]{
		soBase: p.soBase, noun: "button", plural: "buttons", deleteOp: superoffice.OpTaskMenuDel,
		id: func(m soTaskMenu) int { return m.TaskMenuId },
		list: func(ctx context.Context, c *superoffice.Client, _ string) ([]soTaskMenu, error) {
			var all []soTaskMenu
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuList, Method: http.MethodPost, Path: "v1/Agents/List/GetAppTaskMenus", Idempotent: true}, &all)
			return all, err
		},
		live: func(m soTaskMenu, name string) bool { return m.Name == name && !m.Deleted },
		remove: func(ctx context.Context, c *superoffice.Client, id int) error {
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuDel, Method: http.MethodPost, Path: "v1/Agents/List/DeleteTaskMenu",
				Body: map[string]int{"TaskMenuId": id}, Idempotent: true}, nil)
		},
		readBack: func(ctx context.Context, c *superoffice.Client, id int) (string, error) {
			// GetTaskMenu answers null for a task menu that does not exist.
			var back *soTaskMenu
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuList, Method: http.MethodPost, Path: "v1/Agents/List/GetTaskMenu",
				Body: map[string]int{"TaskMenuId": id}, Idempotent: true}, &back)
			if err != nil || back == nil {
				return "", err
			}
			return stillExists, nil
		},
	}
}

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
	want := soTaskMenu{Name: spec.Name, Location: spec.Location, Url: spec.URL}
	id, err := p.kind().apply(ctx, c, t.Installation, spec.Name, namedWrite[soTaskMenu]{
		create: func() (int, error) {
			// SaveTaskMenu with id 0 creates; CreateDefaultTaskMenu would only
			// fetch a template and cost a request.
			var out soTaskMenu
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuWrite, Method: http.MethodPost, Path: "v1/Agents/List/SaveTaskMenu",
				Body: map[string]any{"TaskMenu": want}}, &out)
			return out.TaskMenuId, err
		},
		update: func(keep soTaskMenu) error {
			if keep.Location == want.Location && keep.Url == want.Url {
				return nil
			}
			want.TaskMenuId = keep.TaskMenuId
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpTaskMenuWrite, Method: http.MethodPost, Path: "v1/Agents/List/SaveTaskMenu",
				Body: map[string]any{"TaskMenu": want}, Idempotent: true}, nil)
		},
	})
	if err != nil {
		return d.Entry, err
	}
	return ready(d, strconv.Itoa(id)), nil
}

func (p *buttonProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	return p.kind().delete(ctx, t, e)
}
