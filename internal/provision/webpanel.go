package provision

import (
	"context"
	"fmt"
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
	found, err := p.findByName(ctx, c, spec.Name)
	if err != nil {
		return d.Entry, p.convert(t.Installation, "find web panel "+spec.Name, err)
	}
	if len(found) == 0 {
		var out soWebPanel
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelWrite, Method: http.MethodPost, Path: "v1/List/WebPanel/Items", Body: want}, &out)
		if err != nil {
			return d.Entry, p.convert(t.Installation, "create web panel "+spec.Name, err)
		}
		if out.WebPanelId == 0 {
			return d.Entry, fmt.Errorf("create web panel %s: SuperOffice returned no id", spec.Name)
		}
		return ready(d, strconv.Itoa(out.WebPanelId)), nil
	}
	keep := found[0]
	// Duplicates of our own panel (never made by this code, but possible
	// from older versions or by hand through our app) are removed.
	for _, dup := range found[1:] {
		if err := p.hardDelete(ctx, c, dup.WebPanelId); err != nil {
			return d.Entry, p.convert(t.Installation, "remove duplicate web panel "+spec.Name, err)
		}
	}
	if keep.Name != want.Name || keep.Description != want.Description || keep.Url != want.Url || keep.VisibleIn != want.VisibleIn || !keep.OnCentral {
		want.WebPanelId = keep.WebPanelId
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelWrite, Method: http.MethodPut,
			Path: "v1/List/WebPanel/Items/" + strconv.Itoa(keep.WebPanelId), Body: want, Idempotent: true}, nil)
		if err != nil {
			return d.Entry, p.convert(t.Installation, "update web panel "+spec.Name, err)
		}
	}
	return ready(d, strconv.Itoa(keep.WebPanelId)), nil
}

// findByName lists the app's own panels and returns the live ones named name, lowest id first.
func (p *webPanelProvisioner) findByName(ctx context.Context, c *superoffice.Client, name string) ([]soWebPanel, error) {
	var all []soWebPanel
	if err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelList, Method: http.MethodPost, Path: "v1/Agents/List/GetAppWebPanels", Idempotent: true}, &all); err != nil {
		return nil, err
	}
	var out []soWebPanel
	for _, wp := range all {
		if wp.Name == name && !wp.Deleted {
			out = append(out, wp)
		}
	}
	return out, nil
}

// hardDelete removes a panel for good; DELETE on the list item only marks it deleted.
func (p *webPanelProvisioner) hardDelete(ctx context.Context, c *superoffice.Client, id int) error {
	err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelDel, Method: http.MethodPost, Path: "v1/Agents/List/DeleteWebPanel",
		Body: map[string]int{"WebPanelId": id}, Idempotent: true}, nil)
	if superoffice.IsNotFound(err) {
		return nil
	}
	return err
}

func (p *webPanelProvisioner) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	c, err := p.client(ctx, t)
	if err != nil {
		return false, "SuperOffice access is refused", err
	}
	if err := c.Expect(superoffice.OpWebPanelDel, 2); err != nil {
		return false, "waiting for the rate limit", p.convert(t.Installation, "web panel "+e.Name, err)
	}
	var ids []int
	if id, err := strconv.Atoi(e.RemoteID); err == nil && id > 0 {
		ids = []int{id}
	} else {
		// Intent recorded but no id: the create may have happened anyway.
		found, err := p.findByName(ctx, c, e.Name)
		if err != nil {
			return false, "could not list the app's web panels", p.convert(t.Installation, "find web panel "+e.Name, err)
		}
		for _, wp := range found {
			ids = append(ids, wp.WebPanelId)
		}
	}
	for _, id := range ids {
		if err := p.hardDelete(ctx, c, id); err != nil {
			return false, "SuperOffice did not remove the web panel", p.convert(t.Installation, "delete web panel "+e.Name, err)
		}
		var back soWebPanel
		err := c.Do(ctx, superoffice.Request{Op: superoffice.OpWebPanelGet, Method: http.MethodGet, Path: "v1/List/WebPanel/Items/" + strconv.Itoa(id), Idempotent: true}, &back)
		switch {
		case superoffice.IsNotFound(err):
		case err != nil:
			return false, "could not verify the web panel is gone", p.convert(t.Installation, "verify web panel "+e.Name, err)
		case back.Deleted:
			return false, fmt.Sprintf("web panel %d is only marked deleted in SuperOffice", id), nil
		default:
			return false, fmt.Sprintf("web panel %d still exists in SuperOffice after the delete", id), nil
		}
	}
	return true, "", nil
}
