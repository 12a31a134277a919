package graphserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// userDefaults are the properties Graph returns for a user without $select.
// accountEnabled and signInSessionsValidFromDateTime are not among them:
// read them with $select.
var userDefaults = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail",
	"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

func (u *user) props() map[string]any {
	return map[string]any{
		"id": u.id, "userPrincipalName": u.upn, "mail": u.mail, "displayName": u.displayName,
		"businessPhones": []string{}, "givenName": nil, "surname": nil, "jobTitle": nil,
		"mobilePhone": nil, "officeLocation": nil, "preferredLanguage": nil,
		"accountEnabled": u.accountEnabled, "userType": "Member",
		"createdDateTime":                 u.created.Format(time.RFC3339),
		"signInSessionsValidFromDateTime": u.sessionsValidFrom.Format(time.RFC3339),
	}
}

// getUser serves GET /v1.0/users/{id | userPrincipalName}.
// Permission: User.Read.All (least), User.ReadWrite.All, Directory.Read.All,
// Directory.ReadWrite.All.
func (s *Server) getUser(rc *reqCtx, key string) {
	if !rc.permitted(permUserRead) {
		return
	}
	s.mu.Lock()
	u := s.userByKey(key)
	var p map[string]any
	if u != nil {
		p = u.props()
	}
	s.mu.Unlock()
	if u == nil {
		rc.notFound(key)
		return
	}
	out, ok := rc.selectProps("user", rc.r.URL.Query().Get("$select"), p, userDefaults)
	if !ok {
		return
	}
	out["@odata.context"] = s.GraphURL() + "/$metadata#users/$entity"
	rc.json(http.StatusOK, out)
}

// listUsers serves GET /v1.0/users with $filter on userPrincipalName, mail,
// displayName, id (eq '...') and accountEnabled (eq true|false), $select and
// $top (default 100, maximum 999). Permission as getUser.
func (s *Server) listUsers(rc *reqCtx) {
	if !rc.permitted(permUserRead) {
		return
	}
	cur, ok := rc.dirCursor()
	if !ok {
		return
	}
	var preds []func(map[string]any) bool
	if cur.Filter != "" {
		clauses, err := parseFilter(cur.Filter)
		if err == nil {
			preds, err = propMatchers(clauses, []string{"userPrincipalName", "mail", "displayName", "id"}, []string{"accountEnabled"})
		}
		if err != nil {
			rc.unsupportedQuery(err)
			return
		}
	}
	s.mu.Lock()
	var items []map[string]any
	for _, u := range s.sortedUsers() {
		items = append(items, u.props())
	}
	s.mu.Unlock()
	rc.writePage(cur, "user", "users", items, preds, userDefaults, nil)
}

// patchUser serves PATCH /v1.0/users/{id | userPrincipalName} for
// accountEnabled and displayName; 204 on success. Permission:
// User.ReadWrite.All (least), Directory.ReadWrite.All; for a body that only
// sets accountEnabled, User.EnableDisableAccount.All together with
// User.Read.All (or a higher user read permission) also suffices.
func (s *Server) patchUser(rc *reqCtx, key string) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(rc.r.Body).Decode(&body); err != nil || len(body) == 0 {
		rc.graphError(http.StatusBadRequest, "Request_BadRequest", "Empty Payload. JSON content expected.")
		return
	}
	onlyEnabled := len(body) == 1 && body["accountEnabled"] != nil
	if !rc.hasAny(permUserWrite) &&
		(!onlyEnabled || !rc.app.has("User.EnableDisableAccount.All") || !rc.hasAny(permUserRead)) {
		rc.denied()
		return
	}
	enabled, name, msg := parseUserPatch(body)
	if msg != "" {
		rc.graphError(http.StatusBadRequest, "Request_BadRequest", msg)
		return
	}
	s.mu.Lock()
	u := s.userByKey(key)
	if u != nil {
		if enabled != nil {
			u.accountEnabled = *enabled
		}
		if name != nil {
			u.displayName = *name
		}
	}
	s.mu.Unlock()
	if u == nil {
		rc.notFound(key)
		return
	}
	rc.w.WriteHeader(http.StatusNoContent)
}

// revokeSessions serves POST /v1.0/users/{id | userPrincipalName}/revokeSignInSessions:
// 200 {"value": true} and signInSessionsValidFromDateTime moves to now.
// Permission: User.RevokeSessions.All (least), User.ReadWrite.All,
// Directory.ReadWrite.All.
func (s *Server) revokeSessions(rc *reqCtx, key string) {
	if !rc.permitted(permRevoke) {
		return
	}
	s.mu.Lock()
	u := s.userByKey(key)
	if u != nil {
		u.sessionsValidFrom = s.now().Truncate(time.Second)
	}
	s.mu.Unlock()
	if u == nil {
		rc.notFound(key)
		return
	}
	rc.json(http.StatusOK, map[string]any{"@odata.context": s.GraphURL() + "/$metadata#Edm.Boolean", "value": true})
}

// propMatchers compiles eq clauses over string and boolean properties of a
// rendered resource; strings compare case-insensitively as Graph does.
func propMatchers(clauses []clause, strProps, boolProps []string) ([]func(map[string]any) bool, error) {
	var preds []func(map[string]any) bool
	for _, c := range clauses {
		if c.op != "eq" {
			return nil, fmt.Errorf("operator '%s' is not supported on property '%s'", c.op, c.prop)
		}
		prop, v := c.prop, c.value
		switch {
		case contains(strProps, prop) && c.quoted:
			preds = append(preds, func(m map[string]any) bool {
				s, _ := m[prop].(string)
				return strings.EqualFold(s, v)
			})
		case contains(boolProps, prop) && !c.quoted && (v == "true" || v == "false"):
			want := v == "true"
			preds = append(preds, func(m map[string]any) bool { return m[prop] == want })
		default:
			return nil, fmt.Errorf("property '%s' with value %s", prop, v)
		}
	}
	return preds, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseUserPatch reads the properties a PATCH may set; msg explains a 400.
func parseUserPatch(body map[string]json.RawMessage) (enabled *bool, name *string, msg string) {
	for k, v := range body {
		var err error
		switch k {
		case "accountEnabled":
			if err = json.Unmarshal(v, &enabled); err == nil && enabled == nil {
				err = fmt.Errorf("null")
			}
		case "displayName":
			if err = json.Unmarshal(v, &name); err == nil && (name == nil || *name == "") {
				err = fmt.Errorf("empty")
			}
		default:
			return nil, nil, fmt.Sprintf("Property '%s' is not supported by this fake (accountEnabled, displayName).", k)
		}
		if err != nil {
			return nil, nil, fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", k)
		}
	}
	return enabled, name, ""
}
