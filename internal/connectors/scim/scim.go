// Package scim enforces grants as group memberships and user activation in
// an application that serves SCIM 2.0 (RFC 7643, RFC 7644) as a service
// provider.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// KeyToken is the key of the bearer token in the credentials Secret.
const KeyToken = "token"

// DialectStandard is RFC 7644, the only dialect.
const DialectStandard = "standard"

const patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// Connector talks to the service provider over HTTPS, or over HTTP when
// the system sets spec.insecure.
type Connector struct {
	// Timeout bounds one request; zero means 15 seconds.
	Timeout time.Duration
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.CredentialNeeds = (*Connector)(nil)
)

// MissingCredentials lists KeyToken when the Secret lacks it.
func (c *Connector) MissingCredentials(_ *accessv1alpha1.ConnectedSystem, data map[string][]byte) []string {
	return connectors.Missing(data, KeyToken)
}

// ObservesState is true: Ensure reads the user and the group first.
func (c *Connector) ObservesState() bool { return true }

// Ensure makes the user's membership match state, but leaves it in a group
// that another grant of the contractor keeps (Target.MembershipKeptBySibling),
// and its activation match the account's state over the contractor's
// grants (Target.AccountState).
func (c *Connector) Ensure(ctx context.Context, t connectors.Target, state accessv1alpha1.GrantState) (connectors.Change, error) {
	if t.Account == "" {
		return connectors.Change{}, nil
	}
	api, err := c.client(t.System, t.Credentials)
	if err != nil {
		return connectors.Change{}, err
	}
	user, err := api.findUser(ctx, t.Account)
	if err != nil || user == nil {
		if user == nil && err == nil && connectors.Removes(state) {
			return connectors.Change{}, nil
		}
		if err == nil {
			err = fmt.Errorf("no SCIM user %q: provision the contractor's account first", t.Account)
		}
		return connectors.Change{}, err
	}
	group, err := api.findGroup(ctx, t.Grant.Spec.Entitlement.Name)
	if err != nil {
		return connectors.Change{}, err
	}
	groupMode := t.System.Spec.SCIM.QuarantineMode == accessv1alpha1.SCIMQuarantineMode("Group")
	r := &run{api: api, user: user, kept: t.MembershipKeptBySibling(groupMode)}
	if groupMode {
		quarantine, err := api.findGroup(ctx, t.System.Spec.SCIM.QuarantineGroup)
		if err != nil {
			return connectors.Change{}, err
		}
		err = r.reconcileGroups(ctx, group, quarantine, state, t.AccountState(state))
		return r.Change(), err
	}
	err = r.reconcile(ctx, group, state, t.AccountState(state))
	return r.Change(), err
}

// run is one Ensure's user and changes so far. kept is true when another
// grant of the contractor for the same group keeps the user in it
// (Target.MembershipKeptBySibling): the user is then not taken out.
type run struct {
	connectors.Steps
	api  *api
	user *resource
	kept bool
}

// reconcileGroups is the Group quarantine mode: a quarantined user leaves
// the entitlement's group for the quarantine group, and comes back. The
// quarantine group is the account's: the user stays in it while any of the
// contractor's grants on the system is quarantined.
func (r *run) reconcileGroups(ctx context.Context, group, quarantine *resource, state, account accessv1alpha1.GrantState) error {
	if err := r.member(ctx, group, state == accessv1alpha1.GrantActive, r.kept); err != nil {
		return err
	}
	return r.member(ctx, quarantine, account == accessv1alpha1.GrantQuarantined, false)
}

// reconcile runs the changes that take the user to state, and none when it
// is there already. Membership follows the grant; activation belongs to the
// user and follows account, the most restrictive state over the
// contractor's grants on the system.
func (r *run) reconcile(ctx context.Context, group *resource, state, account accessv1alpha1.GrantState) error {
	holds := state == accessv1alpha1.GrantActive || state == accessv1alpha1.GrantQuarantined
	if holds || connectors.Removes(state) {
		if err := r.member(ctx, group, holds, r.kept); err != nil {
			return err
		}
	}
	switch user := r.user; {
	case account == accessv1alpha1.GrantActive && !user.isActive():
		return r.Do("activated the user", func() error { return r.api.setActive(ctx, user.ID, true) })
	case account == accessv1alpha1.GrantQuarantined && user.isActive():
		return r.Do("deactivated the user", func() error { return r.api.setActive(ctx, user.ID, false) })
	}
	return nil
}

// member adds the user to g or removes it, when it is not so already, and
// leaves it in a group that another grant keeps it in (kept).
func (r *run) member(ctx context.Context, g *resource, want, kept bool) error {
	switch has := g.hasMember(r.user.ID); {
	case want && !has:
		return r.Do("added to group "+g.DisplayName, func() error { return r.api.addMember(ctx, g.ID, r.user.ID) })
	case !want && has && kept:
		r.Note(connectors.KeptBySibling("in group " + g.DisplayName))
	case !want && has:
		return r.Do("removed from group "+g.DisplayName, func() error { return r.api.removeMember(ctx, g.ID, r.user.ID) })
	}
	return nil
}

// Check lists one user, which needs a valid token.
func (c *Connector) Check(ctx context.Context, system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) error {
	api, err := c.client(system, credentials)
	if err != nil {
		return err
	}
	_, err = api.do(ctx, http.MethodGet, "/Users?"+url.Values{"count": {"1"}}.Encode(), nil)
	return err
}

// api is one system's endpoint and token.
type api struct {
	base  string
	token string
	http  *http.Client
}

// client checks the settings and builds the API client. It sends nothing:
// an http:// url without spec.insecure, or one with user info, is refused
// before the token could leave.
func (c *Connector) client(system *accessv1alpha1.ConnectedSystem, credentials map[string][]byte) (*api, error) {
	s := system.Spec.SCIM
	if s == nil {
		return nil, errors.New("the system has no scim settings")
	}
	base, err := baseURL(s.URL, system.Spec.Insecure)
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(string(credentials[KeyToken]))
	if token == "" {
		return nil, fmt.Errorf("the credentials Secret has no %q", KeyToken)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	httpClient, err := connectors.HTTPClient(s.CABundle, timeout)
	if err != nil {
		return nil, fmt.Errorf("spec.scim: %w", err)
	}
	if d := string(s.Dialect); d != "" && d != DialectStandard {
		// Stored before the dialects went: say so rather than guess.
		return nil, fmt.Errorf("spec.scim.dialect %q is no longer supported: it described an identity provider calling applications as a SCIM client; "+
			"set dialect: standard for an application that serves SCIM, or use the okta or entra system type to enforce in the identity provider", d)
	}
	return &api{base: base, token: token, http: httpClient}, nil
}

// baseURL is spec.scim.url without a trailing slash, once it is known to
// be https:// (or http:// with insecure), without user info, query or
// fragment.
func baseURL(raw string, insecure bool) (string, error) {
	u, err := connectors.CheckHTTPURL("spec.scim.url", raw, insecure, "the bearer token")
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("spec.scim.url %s has a query or a fragment: give the SCIM base URL only", connectors.RedactURL(raw))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func (a *api) addMember(ctx context.Context, groupID, userID string) error {
	return a.patch(ctx, "/Groups", groupID, a.op("add", "members", []map[string]string{{"value": userID}}))
}

func (a *api) removeMember(ctx context.Context, groupID, userID string) error {
	path, err := memberPath(userID)
	if err != nil {
		return fmt.Errorf("removing user %q from group %q: %w", userID, groupID, err)
	}
	return a.patch(ctx, "/Groups", groupID, a.op("remove", path, nil))
}

func (a *api) setActive(ctx context.Context, userID string, active bool) error {
	return a.patch(ctx, "/Users", userID, a.op("replace", "active", active))
}

// op builds one PATCH operation.
func (a *api) op(name, path string, value any) map[string]any {
	o := map[string]any{"op": name}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	return o
}

// patch sends one operation to the resource endpoint/id.
func (a *api) patch(ctx context.Context, endpoint, id string, op map[string]any) error {
	path, err := resourcePath(endpoint, id)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"schemas": []string{patchSchema}, "Operations": []any{op}})
	if err != nil {
		return err
	}
	_, err = a.do(ctx, http.MethodPatch, path, body)
	return err
}

// statusError is a non-2xx answer.
type statusError struct {
	method, path string
	code         int
	detail       string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: the service provider answered %d %s", e.method, e.path, e.code, e.detail)
}

// do sends a request and returns the body of a 200 or 204 answer. Its
// errors never carry the token, nor the URL's query values.
func (a *api) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	data, err := a.send(ctx, method, path, body)
	return data, connectors.RedactSecrets(err, a.token)
}

func (a *api) send(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		// url.Parse's error quotes the whole URL.
		return nil, fmt.Errorf("building the request %s %s", method, path)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, connectors.RequestError(a.base, "", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusCreated:
		return data, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w (%s %s: %d)", connectors.ErrCredentials, method, path, resp.StatusCode)
	}
	return nil, &statusError{method: method, path: path, code: resp.StatusCode, detail: scimDetail(data)}
}

// scimDetail extracts a SCIM error's detail, briefly.
func scimDetail(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && e.Detail != "" {
		return e.Detail
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}
