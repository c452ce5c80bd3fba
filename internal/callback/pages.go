package callback

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
)

// problem is an error told to a person (page) or a program (JSON): what went
// wrong and what to do. Never a stack trace, never a token.
type problem struct {
	Code  string `json:"error"`
	Title string `json:"-"`
	What  string `json:"message"`
	Todo  string `json:"action,omitempty"`
}

var (
	problemNotFound = problem{"not_found", "Page not found",
		"There is nothing at this address.", "Check the link, or start again from the app's page in SuperOffice."}
	problemRateLimited = problem{"rate_limited", "Too many requests",
		"Too many requests came from your address in a short time.", "Wait a few seconds and try again."}
	problemBadRequest = problem{"bad_request", "The sign-in answer is incomplete",
		"The request did not carry what SuperOffice sends back after sign-in (a code or id_token, and a state).", "Start the installation again from SuperOffice."}
	problemMediaType = problem{"unsupported_media_type", "Unsupported request format",
		"This address accepts only form posts (application/x-www-form-urlencoded) or JSON where documented.", "Send the request in the documented format."}
	problemTooLarge = problem{"request_too_large", "Request too large",
		"The request body is larger than this service accepts.", "Send a smaller request."}
	problemStateMalformed = problem{"invalid_state", "This sign-in link is not valid",
		"The state that ties the sign-in to this service is missing, damaged or was not made by us.", "Start the installation again from SuperOffice."}
	problemStateExpired = problem{"expired_state", "This sign-in took too long",
		"Sign-ins must finish within 10 minutes, and this one did not.", "Start the installation again from SuperOffice."}
	problemStateReplayed = problem{"replayed_state", "This sign-in link was already used",
		"Each sign-in can complete only once, and this one already did (perhaps the page was reloaded or opened twice).", "If the app is installed, open its status page from SuperOffice; otherwise start again."}
	problemFlowCookie = problem{"missing_flow_cookie", "This sign-in did not start in this browser",
		"The sign-in must finish in the browser that started it, and this browser lacks its proof.", "Start again in one browser, with cookies allowed for this site."}
	problemTenantMismatch = problem{"wrong_tenant", "Signed in to a different tenant",
		"The sign-in was started for one SuperOffice tenant but completed for another.", "Sign in with a user of the tenant you want to install the app in, and start again."}
	problemToken = problem{"invalid_token", "SuperOffice's answer could not be verified",
		"The security token from SuperOffice did not pass verification, so nothing was installed.", "Start again. If this keeps happening, tell the app's support the time it happened."}
	problemDenied = problem{"access_denied", "Access was not granted",
		"SuperOffice did not grant the app access (consent was declined or failed).", "To install the app, start again and accept the consent as an administrator."}
	problemUpstream = problem{"upstream_error", "SuperOffice could not be reached",
		"Exchanging the sign-in with SuperOffice failed, so nothing was installed.", "Wait a minute and start again."}
	problemInternal = problem{"internal_error", "Something went wrong on our side",
		"The request could not be completed. Nothing you did caused this.", "Try again in a minute. If it keeps happening, tell the app's support the time it happened."}
	problemConflict = problem{"conflict", "This installation belongs to another tenant",
		"An installation with this name exists for a different tenant, so it was not changed.", "Tell the app's support; this needs a person to look at it."}
	problemBeingRemoved = problem{"being_removed", "The app is being uninstalled",
		"The app is still being removed from this tenant, so it cannot be installed again yet.", "Wait until the removal finishes, then start the installation again."}
	problemNoSession = problem{"no_session", "Please sign in",
		"This page shows one tenant's installation and needs a recent sign-in through SuperOffice.", "Open the app's install or uninstall link from SuperOffice to sign in again."}
	problemWrongInstallation = problem{"forbidden", "Not your installation",
		"You are signed in for a different tenant than this page shows.", "Open the page from SuperOffice while signed in to the right tenant."}
	problemNotAdmin = problem{"not_administrator", "Only an administrator can do this",
		"Uninstalling the app needs a SuperOffice administrator of this tenant.", "Ask an administrator of your SuperOffice tenant to uninstall the app."}
	problemNoInstallation = problem{"not_installed", "The app is not installed",
		"There is no installation of the app for this tenant.", "Nothing needs to be removed."}
	problemCSRF = problem{"invalid_confirmation", "The confirmation could not be checked",
		"The uninstall confirmation did not come from the page we showed, or it is too old.", "Open the uninstall link from SuperOffice again and confirm on the page it shows."}
	problemBadStateChange = problem{"invalid_state_change", "Invalid state change",
		"The state change notification is malformed or names an unknown change type.", "Send the JSON SuperOffice documents for state changes."}
)

var pageCSS = template.CSS(`body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}
.todo{background:#fff7d6;padding:.6rem;border-radius:4px}.ok{color:#176d2c}.bad{color:#a31515}button{font-size:1rem;padding:.4rem 1rem}`)

var pages = template.Must(template.New("layout").Parse(`{{define "layout"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.Title}}</title><style>{{.CSS}}</style></head><body>
{{template "body" .}}
</body></html>{{end}}`))

// page renders one named body inside the layout.
func renderPage(w http.ResponseWriter, status int, body string, data map[string]any) {
	t, err := template.Must(pages.Clone()).Parse(`{{define "body"}}` + body + `{{end}}`)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if data["CSS"] == nil {
		data["CSS"] = pageCSS
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

const errorBody = `<h1 class="bad">{{.Title}}</h1>
<p><strong>What went wrong:</strong> {{.What}}</p>
<p class="todo"><strong>What to do:</strong> {{.Todo}}</p>
<p><small>Error code: {{.Code}}</small></p>`

// fail answers with a problem: JSON for programs, a page for people.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, p problem) {
	if wantsJSON(r) || r.URL.Path == "/state-change" {
		writeJSON(w, status, p)
		return
	}
	renderPage(w, status, errorBody, map[string]any{"Title": p.Title, "What": p.What, "Todo": p.Todo, "Code": p.Code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
