package callback

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// authorizeUninstall ends an uninstall sign-in: only an administrator of the
// installation's own tenant gets the confirmation page.
func (s *Server) authorizeUninstall(w http.ResponseWriter, r *http.Request, c *superoffice.Claims, name string) string {
	if !c.IsAdministrator {
		s.fail(w, r, http.StatusForbidden, problemNotAdmin)
		return resultForbidden
	}
	ti := &tenancyv1alpha1.TenantInstallation{}
	err := s.opts.Reader.Get(r.Context(), client.ObjectKey{Namespace: s.cfg.Callback.Namespace, Name: name}, ti)
	switch {
	case apierrors.IsNotFound(err):
		s.fail(w, r, http.StatusNotFound, problemNoInstallation)
		return resultBadRequest
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, problemInternal)
		return resultError
	case !strings.EqualFold(ti.Spec.TenantID, c.TenantID):
		s.fail(w, r, http.StatusConflict, problemConflict)
		return resultConflict
	}
	sess := session{Tenant: c.TenantID, Environment: s.env, Installation: name, Admin: true,
		UninstallUntil: s.now().Add(uninstallWindow).Unix()}
	if err := s.writeSession(w, sess); err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return resultError
	}
	http.Redirect(w, r, "/installations/"+url.PathEscape(name)+"/uninstall", http.StatusSeeOther)
	return resultUninstallReq
}

// uninstallSession checks that the request may confirm removing name.
func (s *Server) uninstallSession(w http.ResponseWriter, r *http.Request, name string) (session, bool) {
	sess, ok := s.sessionFor(w, r, name)
	if !ok {
		return session{}, false
	}
	if !sess.Admin {
		s.fail(w, r, http.StatusForbidden, problemNotAdmin)
		return session{}, false
	}
	if !s.now().Before(time.Unix(sess.UninstallUntil, 0)) {
		// No recent re-authentication for this purpose: sign in again first.
		s.fail(w, r, http.StatusForbidden, problem{"reauthenticate", "Please sign in again to uninstall",
			"Uninstalling needs a fresh sign-in by an administrator, within the last 10 minutes.", "Open the app's uninstall link from SuperOffice and sign in."})
		return session{}, false
	}
	return sess, true
}

const confirmBody = `<h1>Uninstall the app from {{.Tenant}}?</h1>
<p>This removes everything the app created for your tenant{{if .Count}} ({{.Count}} item(s), listed below){{end}}, in this order, and checks that each is gone:</p>
{{if .Items}}<table><tr><th>Where</th><th>Kind</th><th>Name</th></tr>
{{range .Items}}<tr><td>{{.Target}}</td><td>{{.Kind}}</td><td>{{.Name}}</td></tr>
{{end}}</table>{{end}}
<p>Data you created yourself in SuperOffice is not touched.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Uninstall</button> <a href="{{.Back}}">Cancel</a>
</form>`

// handleUninstallConfirmPage shows what will be removed and the confirm form.
func (s *Server) handleUninstallConfirmPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sess, ok := s.uninstallSession(w, r, name)
	if !ok {
		return
	}
	ti := &tenancyv1alpha1.TenantInstallation{}
	if err := s.opts.Reader.Get(r.Context(), client.ObjectKey{Namespace: s.cfg.Callback.Namespace, Name: name}, ti); err != nil {
		if apierrors.IsNotFound(err) {
			s.fail(w, r, http.StatusNotFound, problemNoInstallation)
			return
		}
		s.fail(w, r, http.StatusServiceUnavailable, problemInternal)
		return
	}
	items := make([]artifactView, 0, len(ti.Status.Provisioned))
	for i := len(ti.Status.Provisioned) - 1; i >= 0; i-- { // removal order: reverse of apply order
		a := ti.Status.Provisioned[i]
		items = append(items, artifactView{Target: string(a.Target), Kind: a.Kind, Name: a.Name})
	}
	renderPage(w, http.StatusOK, confirmBody, map[string]any{
		"Title": "Uninstall", "Tenant": sess.Tenant, "Items": items, "Count": len(items),
		"CSRF": s.csrfToken(sess), "Action": "/installations/" + url.PathEscape(name) + "/uninstall",
		"Back": "/installations/" + url.PathEscape(name),
	})
}

// handleUninstallConfirm deletes the installation after a confirmed,
// CSRF-checked form post by a freshly signed-in administrator. The
// finalizer then removes every artifact; the status page follows it.
func (s *Server) handleUninstallConfirm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		s.fail(w, r, http.StatusUnsupportedMediaType, problemMediaType)
		return
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, http.StatusRequestEntityTooLarge, problemTooLarge)
			return
		}
		s.fail(w, r, http.StatusBadRequest, problemCSRF)
		return
	}
	sess, ok := s.uninstallSession(w, r, name)
	if !ok {
		return
	}
	// Defence in depth beside SameSite and the token: a browser's Origin, when
	// sent, must be ours.
	if o := r.Header.Get("Origin"); o != "" && o != s.origin() {
		s.fail(w, r, http.StatusForbidden, problemCSRF)
		return
	}
	if !s.csrfValid(sess, r.PostForm.Get("csrf")) {
		s.fail(w, r, http.StatusForbidden, problemCSRF)
		return
	}
	ti := &tenancyv1alpha1.TenantInstallation{}
	err = s.opts.Reader.Get(r.Context(), client.ObjectKey{Namespace: s.cfg.Callback.Namespace, Name: name}, ti)
	switch {
	case apierrors.IsNotFound(err):
		// Already gone: fall through to the page that says so.
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, problemInternal)
		return
	case !strings.EqualFold(ti.Spec.TenantID, sess.Tenant):
		s.fail(w, r, http.StatusForbidden, problemWrongInstallation)
		return
	default:
		// The UID precondition makes sure we delete the object we showed, not
		// a new one of the same name.
		err := s.opts.Writer.Delete(r.Context(), ti, client.Preconditions{UID: &ti.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			s.log.Error(err, "delete installation", "installation", name)
			s.fail(w, r, http.StatusInternalServerError, problemInternal)
			return
		}
		s.log.Info("uninstall confirmed", "installation", name, "tenant", sess.Tenant)
	}
	sess.Removing = true
	sess.UninstallUntil = 0
	if err := s.writeSession(w, sess); err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return
	}
	http.Redirect(w, r, "/installations/"+url.PathEscape(name), http.StatusSeeOther)
}

// origin is scheme://host of the public URL.
func (s *Server) origin() string {
	u, err := url.Parse(s.cfg.Environment.RedirectURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
