package graphserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Application permissions accepted per operation, least privileged first, as
// the Graph v1.0 reference lists them ("Least privileged permissions" then
// "Higher privileged permissions"). A ReadWrite permission is taken to
// include its Read counterpart, as Entra does.
var (
	permUserRead    = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permUserWrite   = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	permRevoke      = []string{"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	permGroupRead   = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	permMemberWrite = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	permOrgRead     = []string{"Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All", "Directory.ReadWrite.All"}
)

// permitted answers 403 Authorization_RequestDenied unless the token holds
// one of any.
func (rc *reqCtx) permitted(roles []string) bool {
	if rc.hasAny(roles) {
		return true
	}
	rc.denied()
	return false
}

func (rc *reqCtx) hasAny(roles []string) bool {
	return slices.ContainsFunc(roles, rc.app.has)
}

func (rc *reqCtx) denied() {
	rc.graphError(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func (rc *reqCtx) notFound(id string) {
	rc.graphError(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

// route is one Graph operation: a method and a path pattern of lower-case
// segments where "*" matches any one segment.
type route struct {
	method  string
	pattern string
	handle  func(s *Server, rc *reqCtx, seg []string)
}

var routes = []route{
	{http.MethodGet, "organization", func(s *Server, rc *reqCtx, _ []string) { s.getOrganization(rc) }},
	{http.MethodGet, "users", func(s *Server, rc *reqCtx, _ []string) { s.listUsers(rc) }},
	{http.MethodGet, "users/*", func(s *Server, rc *reqCtx, seg []string) { s.getUser(rc, seg[1]) }},
	{http.MethodPatch, "users/*", func(s *Server, rc *reqCtx, seg []string) { s.patchUser(rc, seg[1]) }},
	{http.MethodPost, "users/*/revokesigninsessions", func(s *Server, rc *reqCtx, seg []string) { s.revokeSessions(rc, seg[1]) }},
	{http.MethodGet, "groups", func(s *Server, rc *reqCtx, _ []string) { s.listGroups(rc) }},
	{http.MethodGet, "groups/*", func(s *Server, rc *reqCtx, seg []string) { s.getGroup(rc, seg[1]) }},
	{http.MethodGet, "groups/*/members", func(s *Server, rc *reqCtx, seg []string) { s.listMembers(rc, seg[1], false) }},
	{http.MethodGet, "groups/*/members/microsoft.graph.user", func(s *Server, rc *reqCtx, seg []string) { s.listMembers(rc, seg[1], true) }},
	{http.MethodPost, "groups/*/members/$ref", func(s *Server, rc *reqCtx, seg []string) { s.addMember(rc, seg[1]) }},
	{http.MethodDelete, "groups/*/members/*/$ref", func(s *Server, rc *reqCtx, seg []string) { s.removeMember(rc, seg[1], seg[3]) }},
	{http.MethodGet, "auditlogs/signins", func(s *Server, rc *reqCtx, _ []string) { s.handleSignIns(rc) }},
}

func (rt route) matches(seg []string) bool {
	pat := strings.Split(rt.pattern, "/")
	if len(pat) != len(seg) {
		return false
	}
	for i, p := range pat {
		if p != "*" && p != strings.ToLower(seg[i]) {
			return false
		}
	}
	return true
}

// handleGraph authenticates, meters and routes a /v1.0 request.
func (s *Server) handleGraph(rc *reqCtx) {
	if !rc.authenticate() || rc.throttled() {
		return
	}
	seg := strings.Split(strings.Trim(strings.TrimPrefix(rc.r.URL.Path, "/v1.0/"), "/"), "/")
	pathKnown := false
	for _, rt := range routes {
		if !rt.matches(seg) {
			continue
		}
		if rt.method == rc.r.Method {
			rt.handle(s, rc, seg)
			return
		}
		pathKnown = true
	}
	if pathKnown {
		rc.graphError(http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target.")
		return
	}
	rc.graphError(http.StatusBadRequest, "BadRequest",
		fmt.Sprintf("Resource not found for the segment '%s'.", seg[len(seg)-1]))
}

// getOrganization serves GET /v1.0/organization, the cheapest call that
// proves a token works when the app holds Organization.Read.All or
// Directory.Read.All.
func (s *Server) getOrganization(rc *reqCtx) {
	if !rc.permitted(permOrgRead) {
		return
	}
	rc.json(http.StatusOK, map[string]any{
		"@odata.context": s.GraphURL() + "/$metadata#organization",
		"value": []map[string]any{{
			"id":          s.tenant,
			"displayName": "Contoso",
			"tenantType":  "AAD",
			"verifiedDomains": []map[string]any{{
				"name": s.domain, "isDefault": true, "isInitial": true, "type": "Managed",
				"capabilities": "Email, OfficeCommunicationsOnline",
			}},
		}},
	})
}
