package googleserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const directoryBase = "/admin/directory/v1/"

type user struct {
	id, email        string
	admin            bool
	suspended        bool
	suspensionReason string
	sessions         int
	created          time.Time
	version          int
}

// userResource is the Directory API's User resource, the fields the fake
// keeps; the JSON names are the reference's.
type userResource struct {
	Kind             string     `json:"kind"`
	ID               string     `json:"id"`
	Etag             string     `json:"etag"`
	PrimaryEmail     string     `json:"primaryEmail"`
	Name             userName   `json:"name"`
	IsAdmin          bool       `json:"isAdmin"`
	IsDelegatedAdmin bool       `json:"isDelegatedAdmin"`
	AgreedToTerms    bool       `json:"agreedToTerms"`
	Suspended        bool       `json:"suspended"`
	SuspensionReason string     `json:"suspensionReason,omitempty"`
	Archived         bool       `json:"archived"`
	CreationTime     string     `json:"creationTime"`
	CustomerID       string     `json:"customerId"`
	OrgUnitPath      string     `json:"orgUnitPath"`
	Emails           []userMail `json:"emails"`
}

type userName struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	FullName   string `json:"fullName"`
}

type userMail struct {
	Address string `json:"address"`
	Primary bool   `json:"primary"`
}

func (s *Server) routeDirectory(mux *http.ServeMux) {
	b := directoryBase
	mux.HandleFunc("GET "+b+"users/{userKey}", s.getUser)
	mux.HandleFunc("PATCH "+b+"users/{userKey}", s.updateUser)
	mux.HandleFunc("PUT "+b+"users/{userKey}", s.updateUser)
	mux.HandleFunc("POST "+b+"users/{userKey}/signOut", s.signOut)
	mux.HandleFunc("GET "+b+"groups/{groupKey}", s.getGroup)
	mux.HandleFunc("GET "+b+"groups/{groupKey}/members", s.listMembers)
	mux.HandleFunc("POST "+b+"groups/{groupKey}/members", s.insertMember)
	mux.HandleFunc("GET "+b+"groups/{groupKey}/members/{memberKey}", s.getMember)
	mux.HandleFunc("DELETE "+b+"groups/{groupKey}/members/{memberKey}", s.deleteMember)
	mux.HandleFunc("GET "+b+"groups/{groupKey}/hasMember/{memberKey}", s.hasMember)
}

// AddUser adds an active user of the domain and returns its id. Adding an
// existing email returns the existing id.
func (s *Server) AddUser(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(email).id
}

// AddAdmin adds (or promotes) a super admin: a user a service account may
// impersonate to call the Admin SDK. Impersonating a user who is not an
// admin earns a token, but the APIs then refuse it, as Google's do.
func (s *Server) AddAdmin(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.addUserLocked(email)
	u.admin = true
	return u.id
}

// Suspended reports whether the user is suspended.
func (s *Server) Suspended(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByKey(email)
	return u != nil && u.suspended
}

// SetSuspended suspends or restores a user out of band (as an admin in the
// Admin console would, with suspensionReason ADMIN).
func (s *Server) SetSuspended(email string, suspended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(email); u != nil {
		u.setSuspended(suspended)
	}
}

// Sessions is the number of web and device sessions the user has open.
func (s *Server) Sessions(email string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(email); u != nil {
		return u.sessions
	}
	return 0
}

// AddSession opens a session for the user, as a sign-in would.
func (s *Server) AddSession(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByKey(email); u != nil {
		u.sessions++
	}
}

func (s *Server) addUserLocked(email string) *user {
	if u := s.userByKey(email); u != nil {
		return u
	}
	u := &user{id: s.newID(), email: strings.ToLower(email), created: s.opts.Now().UTC()}
	s.users[u.id] = u
	return u
}

// newID returns a numeric id in the style of Google's; s.mu is held.
func (s *Server) newID() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

// userByKey resolves a userKey: the user's id or primary email; s.mu is held.
func (s *Server) userByKey(key string) *user {
	if u := s.users[key]; u != nil {
		return u
	}
	key = strings.ToLower(key)
	for _, u := range s.users {
		if u.email == key {
			return u
		}
	}
	return nil
}

func (u *user) setSuspended(suspended bool) {
	u.suspended = suspended
	u.suspensionReason = ""
	if suspended {
		u.suspensionReason = "ADMIN"
	}
	u.version++
}

func (s *Server) userJSON(u *user) userResource {
	local, _, _ := strings.Cut(u.email, "@")
	return userResource{
		Kind:             "admin#directory#user",
		ID:               u.id,
		Etag:             fmt.Sprintf("%q", u.id+"/"+strconv.Itoa(u.version)),
		PrimaryEmail:     u.email,
		Name:             userName{GivenName: local, FamilyName: "User", FullName: local + " User"},
		IsAdmin:          u.admin,
		AgreedToTerms:    true,
		Suspended:        u.suspended,
		SuspensionReason: u.suspensionReason,
		CreationTime:     u.created.Format(time.RFC3339),
		CustomerID:       s.opts.CustomerID,
		OrgUnitPath:      "/",
		Emails:           []userMail{{Address: u.email, Primary: true}},
	}
}

// directoryCaller authorizes a Directory API request: the token must carry
// one of the accepted scopes and stand for an active super admin, or the
// API answers 403 "Not Authorized to access this resource/api".
func (s *Server) directoryCaller(w http.ResponseWriter, r *http.Request, accepted ...string) bool {
	g := s.authorize(w, r, accepted...)
	if g == nil {
		return false
	}
	s.mu.Lock()
	u := s.userByKey(g.sub)
	ok := g.sub != "" && u != nil && u.admin && !u.suspended
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusForbidden, "forbidden", "Not Authorized to access this resource/api")
	}
	return ok
}

func notFound(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotFound, "notFound", "Resource Not Found: "+what)
}

// getUser is users.get.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, ScopeUser, ScopeUserReadonly) {
		return
	}
	s.mu.Lock()
	u := s.userByKey(r.PathValue("userKey"))
	var res userResource
	if u != nil {
		res = s.userJSON(u)
	}
	s.mu.Unlock()
	if u == nil {
		notFound(w, "userKey")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// updateUser is users.patch and users.update; both have patch semantics,
// and the fake acts on the suspended field only.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, ScopeUser) {
		return
	}
	var body struct {
		Suspended *bool `json:"suspended"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	u := s.userByKey(r.PathValue("userKey"))
	var res userResource
	if u != nil {
		if body.Suspended != nil && *body.Suspended != u.suspended {
			u.setSuspended(*body.Suspended)
		}
		res = s.userJSON(u)
	}
	s.mu.Unlock()
	if u == nil {
		notFound(w, "userKey")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// signOut is users.signOut: it ends every web and device session of the
// user. It needs the admin.directory.user.security scope and nothing else.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if !s.directoryCaller(w, r, ScopeUserSecurity) {
		return
	}
	s.mu.Lock()
	u := s.userByKey(r.PathValue("userKey"))
	if u != nil {
		u.sessions = 0
	}
	s.mu.Unlock()
	if u == nil {
		notFound(w, "userKey")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
