package graphserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

var groupDefaults = []string{"id", "createdDateTime", "description", "displayName", "groupTypes",
	"mail", "mailEnabled", "mailNickname", "securityEnabled"}

func (g *group) props() map[string]any {
	return map[string]any{
		"id": g.id, "displayName": g.name, "description": nil, "groupTypes": []string{},
		"mail": nil, "mailEnabled": false, "mailNickname": strings.ReplaceAll(g.name, " ", ""),
		"securityEnabled": true, "createdDateTime": g.created.Format(time.RFC3339),
	}
}

// getGroup serves GET /v1.0/groups/{id}. Permission: GroupMember.Read.All
// (least), Group.Read.All, Directory.Read.All, Group.ReadWrite.All,
// Directory.ReadWrite.All.
func (s *Server) getGroup(rc *reqCtx, id string) {
	if !rc.permitted(permGroupRead) {
		return
	}
	s.mu.Lock()
	g := s.groups[strings.ToLower(id)]
	var p map[string]any
	if g != nil {
		p = g.props()
	}
	s.mu.Unlock()
	if g == nil {
		rc.notFound(id)
		return
	}
	out, ok := rc.selectProps("group", rc.r.URL.Query().Get("$select"), p, groupDefaults)
	if !ok {
		return
	}
	out["@odata.context"] = s.GraphURL() + "/$metadata#groups/$entity"
	rc.json(http.StatusOK, out)
}

// listGroups serves GET /v1.0/groups with $filter displayName|id eq '...',
// $select and $top (default 100, maximum 999). Permission as getGroup.
// GET /v1.0/groups?$top=1&$select=id is the recommended credentials check
// for the Entra connector: it proves the token and a group permission.
func (s *Server) listGroups(rc *reqCtx) {
	if !rc.permitted(permGroupRead) {
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
			preds, err = propMatchers(clauses, []string{"displayName", "id", "mailNickname"}, []string{"securityEnabled", "mailEnabled"})
		}
		if err != nil {
			rc.unsupportedQuery(err)
			return
		}
	}
	s.mu.Lock()
	var items []map[string]any
	for _, g := range s.sortedGroups() {
		items = append(items, g.props())
	}
	s.mu.Unlock()
	rc.writePage(cur, "group", "groups", items, preds, groupDefaults, nil)
}

// listMembers serves GET /v1.0/groups/{id}/members and its
// /microsoft.graph.user cast, paged by $top (default 100, maximum 999).
// Permission: GroupMember.Read.All (least), Directory.Read.All,
// Group.Read.All, Group.ReadWrite.All, GroupMember.ReadWrite.All. As the
// reference describes, without a user read permission (User.Read.All or
// higher) user members come back with only @odata.type and id; their other
// properties are null.
func (s *Server) listMembers(rc *reqCtx, groupID string, cast bool) {
	if !rc.permitted(permGroupRead) {
		return
	}
	cur, ok := rc.dirCursor()
	if !ok {
		return
	}
	s.mu.Lock()
	g := s.groups[strings.ToLower(groupID)]
	var items []map[string]any
	if g != nil {
		for _, u := range s.sortedUsers() {
			if g.members[u.id] {
				items = append(items, u.props())
			}
		}
	}
	s.mu.Unlock()
	if g == nil {
		rc.notFound(groupID)
		return
	}
	limited := !rc.hasAny(permUserRead)
	decorate := func(m map[string]any) {
		if limited {
			for k := range m {
				if k != "id" {
					m[k] = nil
				}
			}
		}
		m["@odata.type"] = "#microsoft.graph.user"
	}
	ctx := "directoryObjects"
	if cast {
		ctx = "users"
	}
	rc.writePage(cur, "user", ctx, items, nil, userDefaults, decorate)
}

// dirPage is the state carried in a directory list's $skiptoken.
type dirPage struct {
	Filter string `json:"f,omitempty"`
	Select string `json:"s,omitempty"`
	Top    int    `json:"t"`
	After  string `json:"a,omitempty"`
}

func (rc *reqCtx) dirCursor() (dirPage, bool) {
	q := rc.r.URL.Query()
	if tok := q.Get("$skiptoken"); tok != "" {
		var cur dirPage
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.Top < 1 {
			rc.graphError(http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
			return cur, false
		}
		return cur, true
	}
	top, ok := rc.pageSize(100, 999)
	return dirPage{Filter: q.Get("$filter"), Select: q.Get("$select"), Top: top}, ok
}

// writePage answers one page of a directory collection; items are ordered
// by id and paging is keyset on id, so concurrent changes cause neither
// gaps nor duplicates.
func (rc *reqCtx) writePage(cur dirPage, typ, ctx string, items []map[string]any,
	preds []func(map[string]any) bool, defaults []string, decorate func(map[string]any)) {
	page := []map[string]any{}
	more := false
	last := ""
	for _, it := range items {
		id, _ := it["id"].(string)
		if cur.After != "" && id <= cur.After {
			continue
		}
		if !all(preds, it) {
			continue
		}
		if len(page) == cur.Top {
			more = true
			break
		}
		out, ok := rc.selectProps(typ, cur.Select, it, defaults)
		if !ok {
			return
		}
		if decorate != nil {
			decorate(out)
		}
		page = append(page, out)
		last = id
	}
	body := map[string]any{"@odata.context": rc.s.GraphURL() + "/$metadata#" + ctx, "value": page}
	if more {
		next := cur
		next.After = last
		raw, _ := json.Marshal(next)
		body["@odata.nextLink"] = rc.s.URL() + rc.r.URL.Path + "?$skiptoken=" + base64.RawURLEncoding.EncodeToString(raw)
	}
	rc.json(http.StatusOK, body)
}

func all(preds []func(map[string]any) bool, m map[string]any) bool {
	for _, p := range preds {
		if !p(m) {
			return false
		}
	}
	return true
}
