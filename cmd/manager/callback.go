package main

import (
	"context"
	"fmt"
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tenant-operator/tenant-operator/internal/callback"
	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// callbackRunnable runs the callback server on every replica and stops the
// JWKS refresh with it.
type callbackRunnable struct {
	srv        *callback.Server
	stopKeySet context.CancelFunc
}

func (r *callbackRunnable) Start(ctx context.Context) error {
	defer r.stopKeySet()
	return r.srv.Start(ctx)
}

// NeedLeaderElection is false: SuperOffice may send a browser to any replica.
func (r *callbackRunnable) NeedLeaderElection() bool { return false }

// newCallbackServer builds the callback server for cfg: the environment's
// key set and token verifier, the manager's cache-backed client for the
// status pages, its API reader for read-before-write. extra mounts further
// handlers on the same server (e.g. "POST /webhooks/superoffice"). Add the
// result with mgr.Add.
func newCallbackServer(cfg *config.Config, mgr manager.Manager, addr string, extra map[string]http.Handler) (manager.Runnable, error) {
	log := ctrl.Log.WithName("callback")
	ksCtx, cancel := context.WithCancel(context.Background())
	ks, err := superoffice.NewKeySet(ksCtx, superoffice.KeySetOptions{
		JWKSURL: cfg.Environment.JWKSURL,
		OnRefreshError: func(err error) {
			log.Error(err, "SuperOffice signing keys could not be refreshed")
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("callback server: %w", err)
	}
	v, err := superoffice.NewVerifier(ks, superoffice.VerifierOptions{
		Issuers:       cfg.Environment.Issuers(),
		ClientID:      cfg.Environment.ClientID,
		Leeway:        cfg.ClockSkew.Duration,
		AllowHTTPURLs: !cfg.Environment.IsBuiltin(),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("callback server: %w", err)
	}
	srv, err := callback.New(callback.Options{
		Config:        cfg,
		Verifier:      v,
		Reader:        mgr.GetClient(),
		Writer:        mgr.GetClient(),
		WriterReader:  mgr.GetAPIReader(),
		Addr:          addr,
		ExtraHandlers: extra,
		Log:           log,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &callbackRunnable{srv: srv, stopKeySet: cancel}, nil
}
