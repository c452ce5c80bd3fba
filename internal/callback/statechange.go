package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// ChangeType is SuperOffice's tenant state change.
type ChangeType int

// The change types, by SuperOffice's numbering.
const (
	ChangeUpgrade ChangeType = iota
	ChangeBackupRestored
	ChangeSuspend
	ChangeResume
	ChangeDelete
	ChangeMove
)

// stateAPITimeout bounds the tenant state API call of a state change.
const stateAPITimeout = 5 * time.Second

var changeNames = []string{"Upgrade", "BackupRestored", "Suspend", "Resume", "Delete", "Move"}

func (c ChangeType) String() string {
	if c >= 0 && int(c) < len(changeNames) {
		return changeNames[c]
	}
	return fmt.Sprintf("ChangeType(%d)", int(c))
}

// UnmarshalJSON accepts the number or the name.
func (c *ChangeType) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		for i, n := range changeNames {
			if strings.EqualFold(n, name) {
				*c = ChangeType(i)
				return nil
			}
		}
		return errors.New("unknown change type")
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("change type is not a number or name")
	}
	if n < 0 || n >= len(changeNames) {
		return errors.New("unknown change type")
	}
	*c = ChangeType(n)
	return nil
}

// stateChange is SuperOffice's notification body.
type stateChange struct {
	ChangeType        *ChangeType `json:"ChangeType"`
	ContextIdentifier string      `json:"ContextIdentifier"`
	VersionName       string      `json:"VersionName"`
	FileVersion       string      `json:"FileVersion"`
	Token             string      `json:"Token"`
	PublicEndpoint    string      `json:"PublicEndpoint"`
}

// parseStateChange decodes and checks the shape of a notification.
func parseStateChange(r *http.Request) (stateChange, error) {
	var sc stateChange
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		return sc, errMediaType
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return sc, errTooLarge
		}
		return sc, errMalformed
	}
	if err := json.Unmarshal(body, &sc); err != nil {
		return sc, errMalformed
	}
	if sc.ChangeType == nil || !superoffice.ValidTenantID(sc.ContextIdentifier) || sc.Token == "" {
		return sc, errMissing
	}
	return sc, nil
}

// handleStateChange applies SuperOffice's tenant state change: Delete starts
// the uninstall, Suspend/Resume toggle spec.suspend, and Upgrade,
// BackupRestored and Move ask for a full re-check (which re-reads the
// tenant's endpoints).
func (s *Server) handleStateChange(w http.ResponseWriter, r *http.Request) {
	sc, err := parseStateChange(r)
	switch {
	case errors.Is(err, errMediaType):
		s.fail(w, r, http.StatusUnsupportedMediaType, problemMediaType)
		return
	case errors.Is(err, errTooLarge):
		s.fail(w, r, http.StatusRequestEntityTooLarge, problemTooLarge)
		return
	case err != nil:
		s.fail(w, r, http.StatusBadRequest, problemBadStateChange)
		return
	}
	if _, err := s.opts.Verifier.VerifyStateChangeToken(r.Context(), sc.Token, sc.ContextIdentifier); err != nil {
		s.log.Info("state change token refused", "tenant", sc.ContextIdentifier, "reason", err.Error())
		s.fail(w, r, http.StatusUnauthorized, problemToken)
		return
	}
	change := *sc.ChangeType
	name := tenancyv1alpha1.InstallationName(s.env, sc.ContextIdentifier)
	ti := &tenancyv1alpha1.TenantInstallation{}
	err = s.opts.WriterReader.Get(r.Context(), client.ObjectKey{Namespace: s.cfg.Callback.Namespace, Name: name}, ti)
	switch {
	case apierrors.IsNotFound(err):
		// Nothing installed for this tenant: nothing to change, and a repeated
		// Delete must succeed.
		writeJSON(w, http.StatusOK, map[string]string{"result": "no installation", "change": change.String()})
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, problemInternal)
		return
	case !strings.EqualFold(ti.Spec.TenantID, sc.ContextIdentifier):
		s.fail(w, r, http.StatusConflict, problemConflict)
		return
	}
	result, err := s.applyStateChange(r, ti, change)
	if err != nil {
		s.log.Error(err, "apply state change", "installation", name, "change", change.String())
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return
	}
	s.log.Info("state change applied", "installation", name, "change", change.String(), "result", result)
	writeJSON(w, http.StatusOK, map[string]string{"result": result, "change": change.String(), "installation": name})
}

func (s *Server) applyStateChange(r *http.Request, ti *tenancyv1alpha1.TenantInstallation, change ChangeType) (string, error) {
	ctx := r.Context()
	if change == ChangeDelete {
		if ti.DeletionTimestamp != nil {
			return "already uninstalling", nil
		}
		if err := s.opts.Writer.Delete(ctx, ti, client.Preconditions{UID: &ti.UID}); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("delete installation: %w", err)
		}
		return "uninstalling", nil
	}
	if ti.DeletionTimestamp != nil {
		return "ignored: uninstalling", nil
	}
	want := ti.DeepCopy()
	switch change {
	case ChangeSuspend:
		want.Spec.Suspend = true
	case ChangeResume:
		want.Spec.Suspend = false
	default: // Upgrade, BackupRestored, Move
		if api, err := s.tenantAPIURL(ctx, ti.Spec.TenantID); err != nil {
			// Not fatal: the re-check below finds the tenant's host again.
			s.log.Info("tenant state API not read", "installation", ti.Name, "reason", err.Error())
		} else if api != "" {
			want.Spec.Endpoints.WebAPIURL = api
		}
		if want.Annotations == nil {
			want.Annotations = map[string]string{}
		}
		want.Annotations[tenancyv1alpha1.ReconcileRequestAnnotation] = s.now().UTC().Format("2006-01-02T15:04:05.000000000Z") + "/" + change.String()
	}
	if want.Spec.Suspend == ti.Spec.Suspend && (change == ChangeSuspend || change == ChangeResume) {
		return "unchanged", nil
	}
	if err := s.opts.Writer.Patch(ctx, want, client.MergeFrom(ti)); err != nil {
		return "", fmt.Errorf("patch installation: %w", err)
	}
	switch change {
	case ChangeSuspend:
		return "suspended", nil
	case ChangeResume:
		return "resumed", nil
	default:
		return "re-check requested", nil
	}
}

// tenantAPIURL asks SuperOffice's tenant state API where the tenant's REST
// API now lives (its "Api" field), so a moved tenant's endpoints are right
// before the re-check starts.
func (s *Server) tenantAPIURL(ctx context.Context, tenant string) (string, error) {
	base := s.cfg.Environment.StateAPIBaseURL
	if base == "" {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, stateAPITimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/"+url.PathEscape(tenant), nil)
	if err != nil {
		return "", fmt.Errorf("state API request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("state API unreachable: %w", transportCause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("state API answered %d", resp.StatusCode)
	}
	var st struct {
		ContextIdentifier string
		API               string `json:"Api"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return "", errors.New("state API answer does not parse")
	}
	if !strings.EqualFold(st.ContextIdentifier, tenant) {
		return "", errors.New("state API answered for another tenant")
	}
	u, err := url.Parse(st.API)
	if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && !s.cfg.Environment.IsBuiltin())) || u.Host == "" || u.User != nil {
		return "", errors.New("state API gave no usable Api URL")
	}
	return st.API, nil
}
