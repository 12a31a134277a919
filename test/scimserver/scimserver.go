// Package scimserver is a SCIM 2.0 service provider for tests, built on the
// third-party github.com/elimity-com/scim server library over an in-memory
// store: the library parses and validates every request against the SCIM
// schemas, so a request it rejects is not valid SCIM.
package scimserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

// Token is the bearer token the server accepts.
const Token = "scim-test-token"

// Server is a running service provider with Users and Groups.
type Server struct {
	URL   string
	users *store
	group *store
	http  *httptest.Server

	mu       sync.Mutex
	requests []string
	down     bool
}

// Start starts a server, closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{users: newStore("u"), group: newStore("g")}
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true},
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(), Handler: s.users},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: s.group},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		if r.Method != http.MethodGet {
			s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		}
		s.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+Token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.StripPrefix("/scim", srv).ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	s.URL = s.http.URL + "/scim/v2"
	return s
}

// SetDown makes the server answer 503 to everything, or recover.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Writes returns the mutating requests received so far.
func (s *Server) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// AddUser stores an active user and returns its id.
func (s *Server) AddUser(userName string) string {
	return s.users.put(scim.ResourceAttributes{"userName": userName, "active": true})
}

// AddGroup stores a group and returns its id.
func (s *Server) AddGroup(displayName string) string {
	return s.group.put(scim.ResourceAttributes{"displayName": displayName, "members": []any{}})
}

// Active reports whether the user is active.
func (s *Server) Active(id string) bool {
	attrs := s.users.attrs(id)
	active, _ := attrs["active"].(bool)
	return active
}

// Member reports whether the user is a member of the group.
func (s *Server) Member(groupID, userID string) bool {
	for _, m := range members(s.group.attrs(groupID)) {
		if m == userID {
			return true
		}
	}
	return false
}

// SetMember adds or removes a member out of band.
func (s *Server) SetMember(groupID, userID string, member bool) {
	s.group.update(groupID, func(a scim.ResourceAttributes) {
		ms := members(a)
		out := []any{}
		for _, m := range ms {
			if m != userID {
				out = append(out, map[string]any{"value": m})
			}
		}
		if member {
			out = append(out, map[string]any{"value": userID})
		}
		a["members"] = out
	})
}

func members(a scim.ResourceAttributes) []string {
	var out []string
	list, _ := a["members"].([]any)
	for _, m := range list {
		if mm, ok := m.(map[string]any); ok {
			if v, ok := mm["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// store is an in-memory ResourceHandler.
type store struct {
	prefix string
	mu     sync.Mutex
	next   int
	data   map[string]scim.ResourceAttributes
}

func newStore(prefix string) *store {
	return &store{prefix: prefix, data: map[string]scim.ResourceAttributes{}}
}

func (s *store) put(attrs scim.ResourceAttributes) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	id := s.prefix + strconv.Itoa(s.next)
	s.data[id] = attrs
	return id
}

func (s *store) attrs(id string) scim.ResourceAttributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyAttrs(s.data[id])
}

func (s *store) update(id string, fn func(scim.ResourceAttributes)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.data[id])
}

func copyAttrs(a scim.ResourceAttributes) scim.ResourceAttributes {
	out := scim.ResourceAttributes{}
	for k, v := range a {
		if list, ok := v.([]any); ok {
			v = append([]any(nil), list...)
		}
		out[k] = v
	}
	return out
}

func (s *store) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	id := s.put(attrs)
	return scim.Resource{ID: id, Attributes: s.attrs(id)}, nil
}

func (s *store) Get(_ *http.Request, id string) (scim.Resource, error) {
	s.mu.Lock()
	attrs, ok := s.data[id]
	s.mu.Unlock()
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return scim.Resource{ID: id, Attributes: copyAttrs(attrs)}, nil
}

func (s *store) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	page := scim.Page{Resources: []scim.Resource{}}
	for id, attrs := range s.data {
		if params.FilterValidator != nil {
			withID := copyAttrs(attrs)
			withID["id"] = id
			if params.FilterValidator.PassesFilter(withID) != nil {
				continue
			}
		}
		page.TotalResults++
		if params.Count == 0 || len(page.Resources) < params.Count {
			page.Resources = append(page.Resources, scim.Resource{ID: id, Attributes: copyAttrs(attrs)})
		}
	}
	return page, nil
}

func (s *store) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[id]; !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	s.data[id] = attrs
	return scim.Resource{ID: id, Attributes: copyAttrs(attrs)}, nil
}

func (s *store) Delete(_ *http.Request, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, id)
	return nil
}

// Patch applies the operations the library parsed and validated.
func (s *store) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	attrs, ok := s.data[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	for _, op := range ops {
		if err := apply(attrs, op); err != nil {
			return scim.Resource{}, err
		}
	}
	return scim.Resource{ID: id, Attributes: copyAttrs(attrs)}, nil
}

func apply(attrs scim.ResourceAttributes, op scim.PatchOperation) error {
	name := ""
	if op.Path != nil {
		name = op.Path.AttributePath.AttributeName
	}
	switch {
	case op.Path == nil && strings.EqualFold(op.Op, "replace"):
		values, _ := op.Value.(map[string]any)
		for k, v := range values {
			attrs[k] = v
		}
	case name == "active" && strings.EqualFold(op.Op, "replace"):
		attrs["active"] = op.Value
	case name == "members" && strings.EqualFold(op.Op, "add"):
		list, _ := attrs["members"].([]any)
		added, _ := op.Value.([]any)
		attrs["members"] = append(list, added...)
	case name == "members" && strings.EqualFold(op.Op, "remove"):
		attrs["members"] = removeMembers(attrs, op)
	default:
		return fmt.Errorf("the test server does not support %s %v", op.Op, op.Path)
	}
	return nil
}

// removeMembers drops the members matched by a `members[value eq "x"]`
// path, or listed in the value.
func removeMembers(attrs scim.ResourceAttributes, op scim.PatchOperation) []any {
	drop := map[string]bool{}
	if e, ok := op.Path.ValueExpression.(*filter.AttributeExpression); ok && e.Operator == filter.EQ {
		if v, ok := e.CompareValue.(string); ok {
			drop[v] = true
		}
	}
	if values, ok := op.Value.([]any); ok {
		for _, v := range values {
			if m, ok := v.(map[string]any); ok {
				if id, ok := m["value"].(string); ok {
					drop[id] = true
				}
			}
		}
	}
	out := []any{}
	for _, m := range members(attrs) {
		if !drop[m] {
			out = append(out, map[string]any{"value": m})
		}
	}
	return out
}
