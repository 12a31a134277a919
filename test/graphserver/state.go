package graphserver

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

type user struct {
	id                string
	upn               string
	mail              string
	displayName       string
	accountEnabled    bool
	sessionsValidFrom time.Time
	created           time.Time
}

type group struct {
	id      string
	name    string
	created time.Time
	members map[string]bool // user ids
}

// AddUser creates an enabled member user; mail is upn and displayName its
// local part. It returns the user's object id.
func (s *Server) AddUser(upn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := &user{
		id: newGUID(), upn: upn, mail: upn, displayName: strings.SplitN(upn, "@", 2)[0],
		accountEnabled: true, created: now, sessionsValidFrom: now.Truncate(time.Second),
	}
	s.users[u.id] = u
	return u.id
}

// AddGroup creates a security group and returns its object id.
func (s *Server) AddGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &group{id: newGUID(), name: name, created: s.now(), members: map[string]bool{}}
	s.groups[g.id] = g
	return g.id
}

// AddMember puts the user upn in group groupID, for seeding state.
func (s *Server) AddMember(groupID, upn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.groups[groupID], s.userByKey(upn)
	if g == nil || u == nil {
		return fmt.Errorf("graphserver: no group %q or user %q", groupID, upn)
	}
	g.members[u.id] = true
	return nil
}

// Members lists the userPrincipalNames of groupID's members, sorted; nil
// for an unknown group.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return nil
	}
	out := []string{}
	for id := range g.members {
		out = append(out, s.users[id].upn)
	}
	slices.Sort(out)
	return out
}

// UserID is the object id of upn, or "".
func (s *Server) UserID(upn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(upn); u != nil {
		return u.id
	}
	return ""
}

// AccountEnabled reports upn's accountEnabled; false for an unknown user.
func (s *Server) AccountEnabled(upn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByKey(upn)
	return u != nil && u.accountEnabled
}

// SetAccountEnabled sets upn's accountEnabled, for seeding state.
func (s *Server) SetAccountEnabled(upn string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(upn); u != nil {
		u.accountEnabled = enabled
	}
}

// SessionsRevokedAt is upn's signInSessionsValidFromDateTime: its creation
// time until revokeSignInSessions moves it to the time of the call.
func (s *Server) SessionsRevokedAt(upn string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(upn); u != nil {
		return u.sessionsValidFrom
	}
	return time.Time{}
}

// userByKey finds a user by object id or userPrincipalName (case
// insensitive). Callers hold s.mu.
func (s *Server) userByKey(key string) *user {
	if u := s.users[strings.ToLower(key)]; u != nil {
		return u
	}
	for _, u := range s.users {
		if strings.EqualFold(u.upn, key) {
			return u
		}
	}
	return nil
}

// sortedUsers returns users ordered by id. Callers hold s.mu.
func (s *Server) sortedUsers() []*user {
	out := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *user) int { return strings.Compare(a.id, b.id) })
	return out
}

// sortedGroups returns groups ordered by id. Callers hold s.mu.
func (s *Server) sortedGroups() []*group {
	out := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return strings.Compare(a.id, b.id) })
	return out
}
