package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tenant-operator/tenant-operator/internal/callback"
	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/provision"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// superOfficeSide is everything that talks to one SuperOffice environment.
type superOfficeSide struct {
	provisioners map[string]provision.Provisioner
	webhooks     http.Handler
}

// newSuperOfficeSide wires the environment's system user, its throttled REST
// service and the provisioners of every SuperOffice artifact kind, plus the
// webhook receiver. ks is the environment's key set, shared with the
// callback server so the keys are fetched and refreshed once.
func newSuperOfficeSide(ctx context.Context, cfg *config.Config, mgr manager.Manager, ks *superoffice.KeySet) (*superOfficeSide, error) {
	env := cfg.Environment.Name
	log := ctrl.Log.WithName("superoffice")
	su, err := superoffice.NewSystemUser(superoffice.SystemUserOptions{
		Environment:      env,
		AuthenticateURL:  cfg.Environment.SystemUserURL,
		ApplicationToken: cfg.ClientSecret.Value(),
		PrivateKey:       cfg.AppPrivateKey,
		Keyfunc:          ks.Keyfunc(),
	})
	if err != nil {
		return nil, fmt.Errorf("system user: %w", err)
	}
	moved := provision.EndpointUpdater(mgr.GetClient(), env)
	rl := cfg.RateLimits
	svc, err := superoffice.NewRESTService(superoffice.RESTOptions{
		Environment:     env,
		AppToken:        cfg.ClientSecret.Value(),
		StateAPIBaseURL: cfg.Environment.StateAPIBaseURL,
		Limits: superoffice.Limits{
			GlobalRate: rate.Limit(rl.Global.RPS), GlobalBurst: rl.Global.Burst,
			TenantRate: rate.Limit(rl.PerTenant.RPS), TenantBurst: rl.PerTenant.Burst,
			MaxWait: superoffice.DefaultLimits().MaxWait,
		},
		OnEndpointMoved: func(tenantID, webAPIURL string) {
			if err := moved(ctx, tenantID, webAPIURL); err != nil {
				log.Error(err, "record a tenant's moved API endpoint", "tenant", tenantID)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("REST service: %w", err)
	}
	public, err := publicBase(cfg.Environment.RedirectURL)
	if err != nil {
		return nil, err
	}
	webhookBase := cfg.WebhookBaseURL
	if webhookBase == "" {
		webhookBase = public
	}
	provs := provision.NewSuperOffice(provision.SuperOfficeOptions{
		Environment:    env,
		AppName:        cfg.AppName,
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		REST:           svc,
		SystemUser:     su,
		WebhookBaseURL: webhookBase,
		PublicBaseURL:  public,
	})
	hooks, err := callback.NewWebhookReceiver(callback.WebhookReceiverOptions{
		Lookup: callback.WebhookSecretsFromCluster(mgr.GetClient(), env),
		Log:    log.WithName("webhooks"),
	})
	if err != nil {
		return nil, err
	}
	return &superOfficeSide{provisioners: provs, webhooks: hooks}, nil
}

// publicBase is the scheme and host the operator is reached at, taken from
// the redirect URL registered with SuperOffice.
func publicBase(redirectURL string) (string, error) {
	u, err := url.Parse(redirectURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("environment.redirectURL %q is not an absolute URL", redirectURL)
	}
	return u.Scheme + "://" + u.Host, nil
}
