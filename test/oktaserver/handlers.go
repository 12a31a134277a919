package oktaserver

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// getOrg is GET /api/v1/org (scope okta.orgs.read), the org settings.
func (s *Server) getOrg(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]any{
		"id":          "00o00000000000000000",
		"subdomain":   "portcullis-fake",
		"companyName": "Portcullis Fake Org",
		"status":      "ACTIVE",
		"website":     "https://example.com",
		"_links":      map[string]any{"self": map[string]any{"href": s.URL() + "/api/v1/org"}},
	})
}

// getMe is GET /api/v1/users/me: the user an SSWS token belongs to. An
// OAuth service-app token has no user, so the fake answers 404 for it.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	var u *user
	if scheme == "SSWS" {
		u = s.userByID(s.apiTokens[strings.TrimSpace(cred)])
	}
	var body map[string]any
	if u != nil {
		body = s.userJSON(u)
	}
	s.mu.Unlock()
	if body == nil {
		s.writeError(w, http.StatusNotFound, errNotFound, "Not found: Resource not found: me (User)")
		return
	}
	s.writeJSON(w, http.StatusOK, body)
}

// lookupUser finds a user by id, login or unambiguous login shortname, as
// the {id} path parameter allows. The caller holds s.mu.
func (s *Server) lookupUser(idOrLogin string) *user {
	if u := s.userByID(idOrLogin); u != nil {
		return u
	}
	if u := s.userByLogin(idOrLogin); u != nil {
		return u
	}
	var found *user
	for _, u := range s.users {
		short, _, _ := strings.Cut(u.login, "@")
		if strings.EqualFold(short, idOrLogin) {
			if found != nil {
				return nil
			}
			found = u
		}
	}
	return found
}

func (s *Server) userNotFound(w http.ResponseWriter, id string) {
	s.writeError(w, http.StatusNotFound, errNotFound, "Not found: Resource not found: "+id+" (User)")
}

func (s *Server) groupNotFound(w http.ResponseWriter, id string) {
	s.writeError(w, http.StatusNotFound, errNotFound, "Not found: Resource not found: "+id+" (UserGroup)")
}

// getUser is GET /api/v1/users/{id}.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	u := s.lookupUser(id)
	var body map[string]any
	if u != nil {
		body = s.userJSON(u)
	}
	s.mu.Unlock()
	if body == nil {
		s.userNotFound(w, id)
		return
	}
	s.writeJSON(w, http.StatusOK, body)
}

// listUsers is GET /api/v1/users with search, filter or q, paged by limit
// and after (a user id) through the Link header.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	expr := q.Get("search")
	if expr == "" {
		expr = q.Get("filter")
	}
	var match filterExpr
	if expr != "" {
		var err error
		if match, err = parseFilter(expr); err != nil {
			s.writeError(w, http.StatusBadRequest, errInvalidSearch, "Invalid search criteria.")
			return
		}
	}
	prefix := strings.ToLower(q.Get("q"))
	s.mu.Lock()
	var items []map[string]any
	for _, u := range s.users {
		obj := s.userJSON(u)
		switch {
		case match != nil:
			if !match(obj) {
				continue
			}
		case u.status == StatusDeprovisioned:
			continue
		case prefix != "":
			if !strings.HasPrefix(strings.ToLower(u.firstName), prefix) &&
				!strings.HasPrefix(strings.ToLower(u.lastName), prefix) &&
				!strings.HasPrefix(strings.ToLower(u.email), prefix) {
				continue
			}
		}
		items = append(items, obj)
	}
	s.mu.Unlock()
	if prefix != "" && match == nil {
		limit, ok := s.parseLimit(w, q, 10, 200)
		if ok {
			sortByID(items)
			s.writeJSON(w, http.StatusOK, items[:min(limit, len(items))])
		}
		return
	}
	s.writePage(w, r, items, 200, 200)
}

// listGroups is GET /api/v1/groups with q (name prefix, not paged), search
// or filter, paged by limit and after (a group id).
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	expr := q.Get("search")
	if expr == "" {
		expr = q.Get("filter")
	}
	var match filterExpr
	if expr != "" {
		var err error
		if match, err = parseFilter(expr); err != nil {
			s.writeError(w, http.StatusBadRequest, errInvalidSearch, "Invalid search criteria.")
			return
		}
	}
	prefix := strings.ToLower(q.Get("q"))
	s.mu.Lock()
	var items []map[string]any
	for _, g := range s.groups {
		obj := s.groupJSON(g)
		if match != nil && !match(obj) {
			continue
		}
		if prefix != "" && !strings.HasPrefix(strings.ToLower(g.name), prefix) {
			continue
		}
		items = append(items, obj)
	}
	s.mu.Unlock()
	if prefix != "" && match == nil {
		limit, ok := s.parseLimit(w, q, 10000, 10000)
		if ok {
			sortByID(items)
			s.writeJSON(w, http.StatusOK, items[:min(limit, len(items))])
		}
		return
	}
	s.writePage(w, r, items, 10000, 10000)
}

// getGroup is GET /api/v1/groups/{groupId}.
func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("groupId")
	s.mu.Lock()
	g := s.groupByID(id)
	var body map[string]any
	if g != nil {
		body = s.groupJSON(g)
	}
	s.mu.Unlock()
	if body == nil {
		s.groupNotFound(w, id)
		return
	}
	s.writeJSON(w, http.StatusOK, body)
}

// listGroupMembers is GET /api/v1/groups/{groupId}/users, paged.
func (s *Server) listGroupMembers(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("groupId")
	s.mu.Lock()
	g := s.groupByID(id)
	var items []map[string]any
	if g != nil {
		for _, u := range s.users {
			if g.members[u.id] {
				items = append(items, s.userJSON(u))
			}
		}
	}
	s.mu.Unlock()
	if g == nil {
		s.groupNotFound(w, id)
		return
	}
	s.writePage(w, r, items, 1000, 1000)
}

// addGroupMember is PUT /api/v1/groups/{groupId}/users/{userId}: 204, also
// when the user is already a member.
func (s *Server) addGroupMember(w http.ResponseWriter, r *http.Request) {
	s.changeMembership(w, r, true)
}

// removeGroupMember is DELETE /api/v1/groups/{groupId}/users/{userId}: 204,
// also when the user is not a member.
func (s *Server) removeGroupMember(w http.ResponseWriter, r *http.Request) {
	s.changeMembership(w, r, false)
}

func (s *Server) changeMembership(w http.ResponseWriter, r *http.Request, add bool) {
	gid, uid := r.PathValue("groupId"), r.PathValue("userId")
	s.mu.Lock()
	g, u := s.groupByID(gid), s.userByID(uid)
	if g != nil && u != nil && g.members[u.id] != add {
		if add {
			g.members[u.id] = true
		} else {
			delete(g.members, u.id)
		}
		g.lastMembership = s.now().UTC()
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		s.groupNotFound(w, gid)
	case u == nil:
		s.userNotFound(w, uid)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// suspend is POST /api/v1/users/{id}/lifecycle/suspend: ACTIVE to SUSPENDED.
func (s *Server) suspend(w http.ResponseWriter, r *http.Request) {
	s.transition(w, r, StatusActive, StatusSuspended, "suspendUser", "Cannot suspend a user that is not active")
}

// unsuspend is POST /api/v1/users/{id}/lifecycle/unsuspend: SUSPENDED to
// ACTIVE.
func (s *Server) unsuspend(w http.ResponseWriter, r *http.Request) {
	s.transition(w, r, StatusSuspended, StatusActive, "unsuspendUser", "Cannot unsuspend a user that is not suspended")
}

func (s *Server) transition(w http.ResponseWriter, r *http.Request, from, to, op, cause string) {
	id := r.PathValue("id")
	s.mu.Lock()
	u := s.lookupUser(id)
	ok := u != nil && u.status == from
	if ok {
		s.setStatus(u, to)
	}
	s.mu.Unlock()
	switch {
	case u == nil:
		s.userNotFound(w, id)
	case !ok:
		s.writeError(w, http.StatusBadRequest, errValidation, "Api validation failed: "+op, cause)
	default:
		// Okta answers 200 with no body.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
}

// clearSessions is DELETE /api/v1/users/{userId}/sessions: ends the user's
// sessions and, with oauthTokens=true, revokes their OAuth tokens. 204.
func (s *Server) clearSessions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("userId")
	revokeTokens := strings.EqualFold(r.URL.Query().Get("oauthTokens"), "true")
	s.mu.Lock()
	u := s.userByID(id)
	if u != nil {
		u.sessions = 0
		if revokeTokens {
			u.oauthTokens = 0
		}
	}
	s.mu.Unlock()
	if u == nil {
		s.userNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) parseLimit(w http.ResponseWriter, q url.Values, def, maxLimit int) (int, bool) {
	raw := q.Get("limit")
	if raw == "" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		s.writeError(w, http.StatusBadRequest, errValidation, "Api validation failed: limit", "limit: must be a non-negative integer")
		return 0, false
	}
	if n == 0 {
		return def, true
	}
	return min(n, maxLimit), true
}

func sortByID(items []map[string]any) {
	slices.SortFunc(items, func(a, b map[string]any) int {
		return strings.Compare(a["id"].(string), b["id"].(string))
	})
}

// writePage writes one page of items ordered by id. The cursor (after) is
// the id of the last item of the previous page; the Link header has rel
// "self" and, when more items remain, rel "next".
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, items []map[string]any, def, maxLimit int) {
	q := r.URL.Query()
	limit, ok := s.parseLimit(w, q, def, maxLimit)
	if !ok {
		return
	}
	sortByID(items)
	after := q.Get("after")
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(items, after, func(it map[string]any, id string) int {
			c := strings.Compare(it["id"].(string), id)
			if c == 0 {
				return -1 // start after the cursor item itself
			}
			return c
		})
	}
	end := min(start+limit, len(items))
	page := items[start:end]
	w.Header().Add("Link", "<"+s.URL()+r.URL.RequestURI()+`>; rel="self"`)
	if end < len(items) {
		q.Set("after", page[len(page)-1]["id"].(string))
		q.Set("limit", strconv.Itoa(limit))
		w.Header().Add("Link", "<"+s.URL()+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	if page == nil {
		page = []map[string]any{}
	}
	s.writeJSON(w, http.StatusOK, page)
}
