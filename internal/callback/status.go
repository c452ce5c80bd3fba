package callback

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// statusView is the status page's content, also served as JSON.
type statusView struct {
	Name        string          `json:"name"`
	Tenant      string          `json:"tenantID"`
	Environment string          `json:"environment"`
	Phase       string          `json:"phase"`
	Summary     string          `json:"summary"`
	Provisioned []artifactView  `json:"provisioned"`
	Conditions  []conditionView `json:"conditions"`
	Todo        []string        `json:"todo"`
	Removing    bool            `json:"removing,omitempty"`
	Removed     bool            `json:"removed,omitempty"`
	ContinuesAt *time.Time      `json:"continuesAt,omitempty"`
	Refresh     int             `json:"-"`
	Uninstall   string          `json:"-"`
}

type artifactView struct {
	Target  string `json:"target"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

type conditionView struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Words  string `json:"words"`
}

// sessionFor checks that the request may see installation name.
func (s *Server) sessionFor(w http.ResponseWriter, r *http.Request, name string) (session, bool) {
	sess, ok := s.readSession(r)
	if !ok {
		s.fail(w, r, http.StatusUnauthorized, problemNoSession)
		return session{}, false
	}
	if sess.Installation != name || sess.Environment != s.env {
		s.fail(w, r, http.StatusForbidden, problemWrongInstallation)
		return session{}, false
	}
	return sess, true
}

// handleStatus is the administrator's page for one installation. It reads
// from the informer cache only, so it answers fast whatever else is slow.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sess, ok := s.sessionFor(w, r, name)
	if !ok {
		return
	}
	ti := &tenancyv1alpha1.TenantInstallation{}
	err := s.opts.Reader.Get(r.Context(), client.ObjectKey{Namespace: s.cfg.Callback.Namespace, Name: name}, ti)
	switch {
	case apierrors.IsNotFound(err):
		if sess.Removing {
			v := statusView{Name: name, Tenant: sess.Tenant, Environment: s.env, Phase: "Removed", Removed: true,
				Summary:     "The app is uninstalled: everything it created for your tenant has been removed.",
				Provisioned: []artifactView{}, Conditions: []conditionView{}, Todo: []string{"Nothing. You can close this page."}}
			s.renderStatus(w, r, v)
			return
		}
		s.fail(w, r, http.StatusNotFound, problemNoInstallation)
		return
	case err != nil:
		s.log.Error(err, "read installation from cache", "installation", name)
		s.fail(w, r, http.StatusServiceUnavailable, problemInternal)
		return
	}
	if !strings.EqualFold(ti.Spec.TenantID, sess.Tenant) {
		s.fail(w, r, http.StatusForbidden, problemWrongInstallation)
		return
	}
	s.renderStatus(w, r, buildStatusView(ti, s.now()))
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, v statusView) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, v)
		return
	}
	v.Uninstall = "/uninstall?tenant=" + v.Tenant
	renderPage(w, http.StatusOK, statusBody, map[string]any{
		"Title": "Installation " + v.Name, "Refresh": v.Refresh, "V": v,
	})
}

const statusBody = `{{with .V}}<h1>{{if .Removed}}Uninstalled{{else}}Installation for {{.Tenant}}{{end}}</h1>
<p>Environment <strong>{{.Environment}}</strong> · Status <strong>{{.Phase}}</strong></p>
<p>{{.Summary}}</p>
{{if .Todo}}<div class="todo"><strong>What you still need to do:</strong><ul>{{range .Todo}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
{{if .Provisioned}}<h2>What is provisioned</h2>
<table><tr><th>Where</th><th>Kind</th><th>Name</th><th>State</th><th></th></tr>
{{range .Provisioned}}<tr><td>{{.Target}}</td><td>{{.Kind}}</td><td>{{.Name}}</td><td>{{.State}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{else if not .Removed}}<p>Nothing is provisioned yet.</p>{{end}}
{{if .Conditions}}<h2>Details</h2><ul>{{range .Conditions}}<li>{{.Words}}</li>{{end}}</ul>{{end}}
{{if .Refresh}}<p><small>This page refreshes itself every {{.Refresh}} seconds.</small></p>{{end}}
{{if not .Removed}}{{if not .Removing}}<p><a href="{{.Uninstall}}">Uninstall the app</a> (an administrator signs in again first).</p>{{end}}{{end}}
{{end}}`

// buildStatusView turns an installation into plain words.
func buildStatusView(ti *tenancyv1alpha1.TenantInstallation, now time.Time) statusView {
	v := statusView{
		Name: ti.Name, Tenant: ti.Spec.TenantID, Environment: ti.Spec.Environment,
		Phase:       string(ti.Status.Phase),
		Provisioned: []artifactView{}, Conditions: []conditionView{}, Todo: []string{},
	}
	if v.Phase == "" {
		v.Phase = string(tenancyv1alpha1.PhasePending)
	}
	for _, a := range ti.Status.Provisioned {
		v.Provisioned = append(v.Provisioned, artifactView{Target: string(a.Target), Kind: a.Kind, Name: a.Name, State: string(a.State), Message: a.Message})
	}
	conds := ti.Status.Conditions
	for _, c := range conds {
		v.Conditions = append(v.Conditions, conditionView{Type: c.Type, Status: string(c.Status), Words: conditionWords(c)})
	}
	ready := meta.IsStatusConditionTrue(conds, tenancyv1alpha1.ConditionReady)
	switch {
	case ti.DeletionTimestamp != nil:
		v.Removing = true
		v.Phase = string(tenancyv1alpha1.PhaseUninstalling)
		v.Summary = fmt.Sprintf("The app is being removed. %d item(s) are still to be removed; this page follows the removal until nothing is left.", len(ti.Status.Provisioned))
		v.Todo = append(v.Todo, "Nothing: the removal runs by itself.")
	case ti.Spec.Suspend:
		v.Summary = "The installation is suspended: nothing is changed until it is resumed."
		v.Todo = append(v.Todo, "Nothing, unless you did not expect the suspension: then contact SuperOffice or the app's support.")
	case ready:
		v.Summary = fmt.Sprintf("The app is installed and everything it needs is in place (%d item(s)).", len(ti.Status.Provisioned))
	default:
		v.Summary = "The app is being set up for your tenant. This usually takes less than a minute."
	}
	if c := meta.FindStatusCondition(conds, tenancyv1alpha1.ConditionThrottled); c != nil && c.Status == metav1.ConditionTrue {
		if at, ok := continuesAt(c, now); ok {
			v.ContinuesAt = &at
			v.Summary += fmt.Sprintf(" Requests to SuperOffice are being held back to stay within its limits; the work continues by itself at about %s UTC.", at.UTC().Format("15:04:05"))
		} else {
			v.Summary += " Requests to SuperOffice are being held back to stay within its limits; the work continues by itself as soon as SuperOffice allows."
		}
	}
	if c := meta.FindStatusCondition(conds, tenancyv1alpha1.ConditionCredentialsValid); c != nil && c.Status == metav1.ConditionFalse {
		v.Todo = append(v.Todo, "Open the app's install link as a SuperOffice administrator and accept the consent again, so the app regains server-to-server access.")
	}
	if meta.IsStatusConditionTrue(conds, tenancyv1alpha1.ConditionStalled) {
		v.Todo = append(v.Todo, "The setup has stopped on a problem shown below. Tell the app's support; if the message names something in SuperOffice, fix that and the setup resumes.")
	}
	if len(v.Todo) == 0 {
		if ready {
			v.Todo = append(v.Todo, "Nothing. The app is ready to use.")
		} else {
			v.Todo = append(v.Todo, "Nothing yet: wait while this page refreshes itself.")
		}
	}
	if !ready || v.Removing {
		v.Refresh = 3
	}
	return v
}

func conditionWords(c metav1.Condition) string {
	msg := strings.TrimSpace(c.Message)
	if msg != "" {
		msg = ": " + msg
	}
	on := c.Status == metav1.ConditionTrue
	switch c.Type {
	case tenancyv1alpha1.ConditionReady:
		if on {
			return "Ready: everything is in place" + msg
		}
		return "Not ready yet" + msg
	case tenancyv1alpha1.ConditionReconciling:
		if on {
			return "Work in progress" + msg
		}
		return "No work in progress"
	case tenancyv1alpha1.ConditionStalled:
		if on {
			return "Stopped on a problem that needs attention" + msg
		}
		return "No problems stop the work"
	case tenancyv1alpha1.ConditionThrottled:
		if on {
			return "Slowed down at SuperOffice's request" + msg
		}
		return "Not slowed down"
	case tenancyv1alpha1.ConditionCredentialsValid:
		if on {
			return "The app can sign in to your tenant"
		}
		return "The app cannot sign in to your tenant" + msg
	}
	return fmt.Sprintf("%s is %s%s", c.Type, c.Status, msg)
}

var (
	retryAfterPattern = regexp.MustCompile(`retry after ([0-9][0-9a-zµ.]*)`)
	timestampPattern  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// continuesAt reads when throttled work resumes from the condition: an
// RFC 3339 time in the message, or "retry after <duration>" counted from
// the condition's last transition (the provision package's wording).
func continuesAt(c *metav1.Condition, now time.Time) (time.Time, bool) {
	if ts := timestampPattern.FindString(c.Message); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t, true
		}
	}
	if m := retryAfterPattern.FindStringSubmatch(c.Message); m != nil {
		if d, err := time.ParseDuration(strings.TrimRight(m[1], ".")); err == nil {
			from := c.LastTransitionTime.Time
			if from.IsZero() {
				from = now
			}
			return from.Add(d), true
		}
	}
	return time.Time{}, false
}
