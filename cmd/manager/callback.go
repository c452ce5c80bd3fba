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

// callbackRunnable runs the callback server on every replica.
type callbackRunnable struct {
	srv *callback.Server
}

func (r *callbackRunnable) Start(ctx context.Context) error { return r.srv.Start(ctx) }

// NeedLeaderElection is false: SuperOffice may send a browser to any replica.
func (r *callbackRunnable) NeedLeaderElection() bool { return false }

// newCallbackServer builds the callback server for cfg: the token verifier
// over the environment's key set, the manager's cache-backed client for the
// status pages, its API reader for read-before-write. extra mounts further
// handlers on the same server (e.g. "POST /webhooks/superoffice"). Add the
// result with mgr.Add.
func newCallbackServer(cfg *config.Config, mgr manager.Manager, ks *superoffice.KeySet, addr string, extra map[string]http.Handler) (manager.Runnable, error) {
	v, err := superoffice.NewVerifier(ks, superoffice.VerifierOptions{
		Issuers:       cfg.Environment.Issuers(),
		ClientID:      cfg.Environment.ClientID,
		Leeway:        cfg.ClockSkew.Duration,
		AllowHTTPURLs: !cfg.Environment.IsBuiltin(),
	})
	if err != nil {
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
		Log:           ctrl.Log.WithName("callback"),
	})
	if err != nil {
		return nil, err
	}
	return &callbackRunnable{srv: srv}, nil
}
