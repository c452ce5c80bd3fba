package provision

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// soWebPanel is SuperOffice's WebPanelEntity, the fields we manage.
type soWebPanel struct {
	WebPanelId  int    `json:"WebPanelId"`
	Name        string `json:"Name"`
	Description string `json:"Description"`
	Url         string `json:"Url"`
	VisibleIn   string `json:"VisibleIn"`
	Deleted     bool   `json:"Deleted"`
	OnCentral   bool   `json:"OnCentral"`
}

// webPanelProvisioner manages web panels, identified by name among the app's own panels.
type webPanelProvisioner struct{ *soBase }

func (p *webPanelProvisioner) want(s tenancyv1alpha1.WebPanel) soWebPanel {
	desc := s.Description
	// Certification: the description names the app. The renderer already
	// does this; repeat it so no path can skip it.
	if app := p.opts.AppName; app != "" && !strings.Contains(desc, app) {
		if strings.TrimSpace(desc) == "" {
			desc = app
		} else {
			desc += " (" + app + ")"
		}
	}
	return soWebPanel{Name: s.Name, Description: desc, Url: s.URL, VisibleIn: s.VisibleIn, OnCentral: true}
}

// kind is how web panels are found, deleted and read back.
func (p *webPanelProvisioner) kind() namedKind[soWebPanel] {
	return namedKind[soWebPanel]{
		soBase: p.soBase, noun: "web panel", plural: "web panels", deleteOp: superoffice.OpWebPanelDel,
		id: func(wp soWebPanel) int { return wp.WebPanelId },
		// The app's own panels; the live ones named name are kept.
		list: func(ctx context.Context, c *superoffice.Client, _ string) ([]soWebPanel, error) {
			var all []soWebPanel
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelList, Method: http.MethodPost, Path: "v1/Agents/List/GetAppWebPanels", Idempotent: true}, &all)
			return all, err
		},
		live: func(wp soWebPanel, name string) bool { return wp.Name == name && !wp.Deleted },
		// Removes a panel for good; DELETE on the list item only marks it deleted.
		remove: func(ctx context.Context, c *superoffice.Client, id int) error {
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelDel, Method: http.MethodPost, Path: "v1/Agents/List/DeleteWebPanel",
				Body: map[string]int{"WebPanelId": id}, Idempotent: true}, nil)
		},
		readBack: func(ctx context.Context, c *superoffice.Client, id int) (string, error) {
			var back soWebPanel
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelGet, Method: http.MethodGet, Path: "v1/List/WebPanel/Items/" + strconv.Itoa(id), Idempotent: true}, &back)
			switch {
			case err != nil:
				return "", err
			case back.Deleted:
				return "is only marked deleted in SuperOffice", nil
			default:
				return stillExists, nil
			}
		},
	}
}

func (p *webPanelProvisioner) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	spec, err := specOf[tenancyv1alpha1.WebPanel](d)
	if err != nil {
		return d.Entry, err
	}
	c, err := p.client(ctx, t)
	if err != nil {
		return d.Entry, err
	}
	want := p.want(spec)
	// Find and create (or update): two requests.
	if err := c.Expect(superoffice.OpWebPanelWrite, 2); err != nil {
		return d.Entry, p.convert(t.Installation, "web panel "+spec.Name, err)
	}
	id, err := p.kind().apply(ctx, c, t.Installation, spec.Name, namedWrite[soWebPanel]{
		create: func() (int, error) {
			var out soWebPanel
			err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelWrite, Method: http.MethodPost, Path: "v1/List/WebPanel/Items", Body: want}, &out)
			return out.WebPanelId, err
		},
		update: func(keep soWebPanel) error {
			if keep.Name == want.Name && keep.Description == want.Description && keep.Url == want.Url && keep.VisibleIn == want.VisibleIn && keep.OnCentral {
				return nil
			}
			want.WebPanelId = keep.WebPanelId
			return c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelWrite, Method: http.MethodPut,
				Path: "v1/List/WebPanel/Items/" + strconv.Itoa(keep.WebPanelId), Body: want, Idempotent: true}, nil)
		},
	})
	if err != nil {
		return d.Entry, err
	}
	return ready(d, strconv.Itoa(id)), nil
}

func (p *webPanelProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	return p.kind().delete(ctx, t, e)
}
