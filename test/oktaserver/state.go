package oktaserver

import (
	"slices"
	"strings"
	"time"
)

// User statuses modelled by the fake (Okta has more, such as STAGED).
const (
	StatusActive        = "ACTIVE"
	StatusSuspended     = "SUSPENDED"
	StatusDeprovisioned = "DEPROVISIONED"
)

type user struct {
	id, login, email, firstName, lastName string
	status                                string
	created, statusChanged, lastUpdated   time.Time
	sessions                              int
	oauthTokens                           int
}

type group struct {
	id, name, description string
	created, lastUpdated  time.Time
	lastMembership        time.Time
	members               map[string]bool // user id
}

// AddUser creates an ACTIVE user with the login (also its email) and returns
// its id ("00u" + 17 characters). Logins are unique, case-insensitively;
// adding an existing login returns the existing id.
func (s *Server) AddUser(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByLogin(login); u != nil {
		return u.id
	}
	now := s.now().UTC()
	first, _, _ := strings.Cut(login, "@")
	u := &user{
		id: randomID("00u", 17), login: login, email: login,
		firstName: first, lastName: "Test", status: StatusActive,
		created: now, statusChanged: now, lastUpdated: now,
	}
	s.users = append(s.users, u)
	return u.id
}

// AddGroup creates an OKTA_GROUP with the name and returns its id ("00g" +
// 17 characters).
func (s *Server) AddGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	g := &group{
		id: randomID("00g", 17), name: name, created: now, lastUpdated: now,
		lastMembership: now, members: map[string]bool{},
	}
	s.groups = append(s.groups, g)
	return g.id
}

// AddMember puts a user (by id) in a group (by id) without an API call. It
// reports whether both exist.
func (s *Server) AddMember(groupID, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.groupByID(groupID), s.userByID(userID)
	if g == nil || u == nil {
		return false
	}
	g.members[u.id] = true
	return true
}

// Members lists the logins of a group's members, sorted; nil for an unknown
// group.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByID(groupID)
	if g == nil {
		return nil
	}
	logins := []string{}
	for _, u := range s.users {
		if g.members[u.id] {
			logins = append(logins, u.login)
		}
	}
	slices.Sort(logins)
	return logins
}

// UserStatus is the status of the user with the login, or "" if none.
func (s *Server) UserStatus(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByLogin(login); u != nil {
		return u.status
	}
	return ""
}

// SetUserStatus sets a user's status (by login) for seeding, such as
// StatusSuspended or StatusDeprovisioned. It reports whether the user exists.
func (s *Server) SetUserStatus(login, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByLogin(login)
	if u == nil {
		return false
	}
	s.setStatus(u, status)
	return true
}

// AddSession records one more active Okta session for the user.
func (s *Server) AddSession(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByID(userID); u != nil {
		u.sessions++
	}
}

// Sessions is the number of active sessions of the user.
func (s *Server) Sessions(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByID(userID); u != nil {
		return u.sessions
	}
	return 0
}

// AddOAuthToken records one more OAuth/OIDC token (grant) issued to the
// user by some app; DELETE .../sessions?oauthTokens=true revokes them.
func (s *Server) AddOAuthToken(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByID(userID); u != nil {
		u.oauthTokens++
	}
}

// OAuthTokens is the number of OAuth tokens issued to the user.
func (s *Server) OAuthTokens(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByID(userID); u != nil {
		return u.oauthTokens
	}
	return 0
}

// The helpers below need s.mu held.

func (s *Server) userByID(id string) *user {
	for _, u := range s.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (s *Server) userByLogin(login string) *user {
	for _, u := range s.users {
		if strings.EqualFold(u.login, login) {
			return u
		}
	}
	return nil
}

func (s *Server) groupByID(id string) *group {
	for _, g := range s.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (s *Server) setStatus(u *user, status string) {
	now := s.now().UTC()
	u.status, u.statusChanged, u.lastUpdated = status, now, now
}

const oktaTime = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(oktaTime) }

// userJSON renders a user as Okta's User object.
func (s *Server) userJSON(u *user) map[string]any {
	self := s.URL() + "/api/v1/users/" + u.id
	return map[string]any{
		"id":              u.id,
		"status":          u.status,
		"created":         fmtTime(u.created),
		"activated":       fmtTime(u.created),
		"statusChanged":   fmtTime(u.statusChanged),
		"lastLogin":       nil,
		"lastUpdated":     fmtTime(u.lastUpdated),
		"passwordChanged": nil,
		"type":            map[string]any{"id": "oty00000000000000000"},
		"profile": map[string]any{
			"firstName":   u.firstName,
			"lastName":    u.lastName,
			"mobilePhone": nil,
			"secondEmail": nil,
			"login":       u.login,
			"email":       u.email,
		},
		"credentials": map[string]any{
			"provider": map[string]any{"type": "OKTA", "name": "OKTA"},
		},
		"_links": map[string]any{"self": map[string]any{"href": self}},
	}
}

// groupJSON renders a group as Okta's Group object.
func (s *Server) groupJSON(g *group) map[string]any {
	self := s.URL() + "/api/v1/groups/" + g.id
	return map[string]any{
		"id":                    g.id,
		"created":               fmtTime(g.created),
		"lastUpdated":           fmtTime(g.lastUpdated),
		"lastMembershipUpdated": fmtTime(g.lastMembership),
		"objectClass":           []string{"okta:user_group"},
		"type":                  "OKTA_GROUP",
		"profile":               map[string]any{"name": g.name, "description": g.description},
		"_links": map[string]any{
			"self":  map[string]any{"href": self},
			"users": map[string]any{"href": self + "/users"},
		},
	}
}
