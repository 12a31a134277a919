package googleserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Member roles and the defaults the reference gives.
const (
	RoleMember  = "MEMBER"
	RoleManager = "MANAGER"
	RoleOwner   = "OWNER"

	membersPageDefault = 200 // members.list maxResults default and maximum
)

type group struct {
	id, email, name string
	members         map[string]*member // by member email
	version         int
}

type member struct {
	id, email, role string
}

type groupResource struct {
	Kind               string `json:"kind"`
	ID                 string `json:"id"`
	Etag               string `json:"etag"`
	Email              string `json:"email"`
	Name               string `json:"name"`
	Description        string `json:"description"`
	DirectMembersCount string `json:"directMembersCount"`
	AdminCreated       bool   `json:"adminCreated"`
}

type memberResource struct {
	Kind             string `json:"kind"`
	Etag             string `json:"etag"`
	ID               string `json:"id"`
	Email            string `json:"email"`
	Role             string `json:"role"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	DeliverySettings string `json:"delivery_settings"`
}

type membersResource struct {
	Kind          string           `json:"kind"`
	Etag          string           `json:"etag"`
	Members       []memberResource `json:"members,omitempty"`
	NextPageToken string           `json:"nextPageToken,omitempty"`
}

// AddGroup adds a group and returns its id; the group's name is the local
// part of its email. Adding an existing email returns the existing id.
func (s *Server) AddGroup(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groupByKey(email); g != nil {
		return g.id
	}
	name, _, _ := strings.Cut(email, "@")
	g := &group{id: s.newID(), email: strings.ToLower(email), name: name, members: map[string]*member{}}
	s.groups[g.id] = g
	return g.id
}

// AddMember puts an existing user in a group out of band with role (MEMBER
// if empty). It reports false if the group or user does not exist.
func (s *Server) AddMember(groupKey, email, role string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.groupByKey(groupKey), s.userByKey(email)
	if g == nil || u == nil {
		return false
	}
	if role == "" {
		role = RoleMember
	}
	g.members[u.email] = &member{id: u.id, email: u.email, role: role}
	g.version++
	return true
}

// Members lists the emails of the group's members, sorted.
func (s *Server) Members(groupKey string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByKey(groupKey)
	if g == nil {
		return nil
	}
	return sortedEmails(g)
}

// MemberRole is the member's role in the group, or "" if not a member.
func (s *Server) MemberRole(groupKey, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groupByKey(groupKey); g != nil {
		if m := g.memberByKey(email); m != nil {
			return m.role
		}
	}
	return ""
}

func sortedEmails(g *group) []string {
	out := make([]string, 0, len(g.members))
	for e := range g.members {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// groupByKey resolves a groupKey: the group's id or email; s.mu is held.
func (s *Server) groupByKey(key string) *group {
	if g := s.groups[key]; g != nil {
		return g
	}
	key = strings.ToLower(key)
	for _, g := range s.groups {
		if g.email == key {
			return g
		}
	}
	return nil
}

// memberByKey resolves a memberKey: the member's email or id.
func (g *group) memberByKey(key string) *member {
	if m := g.members[strings.ToLower(key)]; m != nil {
		return m
	}
	for _, m := range g.members {
		if m.id == key {
			return m
		}
	}
	return nil
}

func (g *group) json() groupResource {
	return groupResource{
		Kind: "admin#directory#group", ID: g.id, Etag: fmt.Sprintf("%q", g.id+"/"+strconv.Itoa(g.version)),
		Email: g.email, Name: g.name, DirectMembersCount: strconv.Itoa(len(g.members)), AdminCreated: true,
	}
}

func (m *member) json() memberResource {
	return memberResource{
		Kind: "admin#directory#member", Etag: fmt.Sprintf("%q", m.id+"/"+m.role),
		ID: m.id, Email: m.email, Role: m.role, Type: "USER", Status: "ACTIVE", DeliverySettings: "ALL_MAIL",
	}
}

// Scopes the members methods accept, per the discovery document.
var (
	membersRead  = []string{ScopeGroup, ScopeGroupReadonly, ScopeGroupMember, ScopeGroupMemberReadonly}
	membersWrite = []string{ScopeGroup, ScopeGroupMember}
)

// withGroup runs fn on the group named in the path under the lock, or
// answers 404 when there is none. fn returns the status and body to send.
func (s *Server) withGroup(w http.ResponseWriter, r *http.Request, fn func(*group) (int, any)) {
	s.mu.Lock()
	g := s.groupByKey(r.PathValue("groupKey"))
	var code int
	var body any
	if g != nil {
		code, body = fn(g)
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		notFound(w, "groupKey")
	case body == nil:
		w.WriteHeader(code)
	default:
		if e, ok := body.(errorItem); ok {
			writeError(w, code, e.Reason, e.Message)
			return
		}
		writeJSON(w, code, body)
	}
}

func missingMember() (int, any) {
	return http.StatusNotFound, errorItem{Reason: "notFound", Message: "Resource Not Found: memberKey"}
}

// getGroup is groups.get; it needs a group scope, not a member scope.
func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, ScopeGroup, ScopeGroupReadonly) {
		return
	}
	s.withGroup(w, r, func(g *group) (int, any) { return http.StatusOK, g.json() })
}

// listMembers is members.list, paged by an opaque cursor over the members'
// emails so that pages neither skip nor repeat members that stay put.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, membersRead...) {
		return
	}
	q := r.URL.Query()
	limit, ok := pageSize(w, q.Get("maxResults"), membersPageDefault, membersPageDefault, false)
	if !ok {
		return
	}
	after := ""
	if tok := q.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(b), "m:") {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid Input: pageToken")
			return
		}
		after = string(b[2:])
	}
	roles := map[string]bool{}
	for _, role := range strings.Split(q.Get("roles"), ",") {
		if role = strings.TrimSpace(strings.ToUpper(role)); role != "" {
			roles[role] = true
		}
	}
	s.withGroup(w, r, func(g *group) (int, any) {
		out := membersResource{Kind: "admin#directory#members", Etag: fmt.Sprintf("%q", g.id+"/members")}
		for _, e := range sortedEmails(g) {
			m := g.members[e]
			if e <= after || (len(roles) > 0 && !roles[m.role]) {
				continue
			}
			if len(out.Members) == limit {
				last := out.Members[limit-1].Email
				out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte("m:" + last))
				break
			}
			out.Members = append(out.Members, m.json())
		}
		return http.StatusOK, out
	})
}

// insertMember is members.insert.
func (s *Server) insertMember(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, membersWrite...) {
		return
	}
	var body struct {
		Email string `json:"email"`
		ID    string `json:"id"`
		Role  string `json:"role"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	if body.Role == "" {
		body.Role = RoleMember
	}
	if body.Role != RoleMember && body.Role != RoleManager && body.Role != RoleOwner {
		writeError(w, http.StatusBadRequest, "invalid", "Invalid Input: role")
		return
	}
	s.withGroup(w, r, func(g *group) (int, any) {
		key := body.Email
		if key == "" {
			key = body.ID
		}
		u := s.userByKey(key)
		if key == "" || u == nil {
			return missingMember()
		}
		if g.members[u.email] != nil {
			return http.StatusConflict, errorItem{Reason: "duplicate", Message: "Member already exists."}
		}
		m := &member{id: u.id, email: u.email, role: body.Role}
		g.members[u.email] = m
		g.version++
		return http.StatusOK, m.json()
	})
}

// getMember is members.get.
func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, membersRead...) {
		return
	}
	s.withGroup(w, r, func(g *group) (int, any) {
		m := g.memberByKey(r.PathValue("memberKey"))
		if m == nil {
			return missingMember()
		}
		return http.StatusOK, m.json()
	})
}

// deleteMember is members.delete; it answers 204 with no body.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, membersWrite...) {
		return
	}
	s.withGroup(w, r, func(g *group) (int, any) {
		m := g.memberByKey(r.PathValue("memberKey"))
		if m == nil {
			return missingMember()
		}
		delete(g.members, m.email)
		g.version++
		return http.StatusNoContent, nil
	})
}

// hasMember is members.hasMember, for direct membership; memberKey must
// name a user of the domain.
func (s *Server) hasMember(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, membersRead...) {
		return
	}
	s.withGroup(w, r, func(g *group) (int, any) {
		key := r.PathValue("memberKey")
		if g.memberByKey(key) != nil {
			return http.StatusOK, map[string]bool{"isMember": true}
		}
		if s.userByKey(key) == nil {
			return missingMember()
		}
		return http.StatusOK, map[string]bool{"isMember": false}
	})
}

// pageSize parses maxResults: absent gives def; below one, or above ceiling
// when strict, is a 400 worded as Google's parameter validation words it;
// otherwise values above ceiling are capped.
func pageSize(w http.ResponseWriter, raw string, def, ceiling int, strict bool) (int, bool) {
	if raw == "" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || (strict && n > ceiling) {
		writeError(w, http.StatusBadRequest, "invalid",
			fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", raw, ceiling))
		return 0, false
	}
	return min(n, ceiling), true
}
