package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// resource is the part of a SCIM User or Group that the connector reads.
type resource struct {
	ID          string `json:"id"`
	UserName    string `json:"userName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Active      any    `json:"active,omitempty"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members,omitempty"`
}

func (r *resource) hasMember(id string) bool {
	for _, m := range r.Members {
		if m.Value == id {
			return true
		}
	}
	return false
}

// isActive reads active as a boolean or, from Entra, a string; a missing
// attribute means active.
func (r *resource) isActive() bool {
	switch v := r.Active.(type) {
	case bool:
		return v
	case string:
		return !strings.EqualFold(v, "false")
	}
	return true
}

// attribute returns the value of userName or displayName.
func (r *resource) attribute(name string) string {
	if name == "userName" {
		return r.UserName
	}
	return r.DisplayName
}

// findUser finds a user by userName, then by id.
func (a *api) findUser(ctx context.Context, account string) (*resource, error) {
	return a.find(ctx, "/Users", "userName", account)
}

// findGroup finds a group by displayName, then by id.
func (a *api) findGroup(ctx context.Context, name string) (*resource, error) {
	g, err := a.find(ctx, "/Groups", "displayName", name)
	if err == nil && g == nil {
		err = fmt.Errorf("no SCIM group %q: create it, or fix spec.entitlement.name", name)
	}
	return g, err
}

// find looks value up with the filter `attr eq "value"`, then as an id. It
// acts only on one resource whose attr is value: a filter that matches
// several (displayName is not unique) is refused, and so is an answer whose
// attr differs, whatever the server made of the filter. userName and
// displayName are case-insensitive (RFC 7643 §4.1.1, §4.2).
func (a *api) find(ctx context.Context, endpoint, attr, value string) (*resource, error) {
	filter, err := eqFilter(attr, value)
	if err != nil {
		return nil, fmt.Errorf("looking up %s %q: %w", attr, value, err)
	}
	body, err := a.do(ctx, http.MethodGet, listPath(endpoint, filter), nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		TotalResults int        `json:"totalResults"`
		Resources    []resource `json:"Resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("reading %s: %w", endpoint, err)
	}
	switch n := max(list.TotalResults, len(list.Resources)); {
	case n > 1:
		return nil, fmt.Errorf("%d resources of %s match %s: refusing to pick one; name it by id instead", n, endpoint, filter)
	case len(list.Resources) == 1:
		r, err := a.get(ctx, endpoint, list.Resources[0].ID)
		if err == nil && !strings.EqualFold(r.attribute(attr), value) {
			err = fmt.Errorf("the service provider answered %s with %s/%s, whose %s is %q: refusing it", filter, endpoint, r.ID, attr, r.attribute(attr))
		}
		return r, err
	}
	if !canBeID(value) {
		return nil, nil
	}
	r, err := a.get(ctx, endpoint, value)
	if status, ok := errors.AsType[*statusError](err); ok && status.code == http.StatusNotFound {
		return nil, nil
	}
	return r, err
}

// get reads endpoint/id, and refuses an answer about another resource.
func (a *api) get(ctx context.Context, endpoint, id string) (*resource, error) {
	path, err := resourcePath(endpoint, id)
	if err != nil {
		return nil, err
	}
	body, err := a.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	r := &resource{}
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("the service provider answered GET %s with the resource %q", path, r.ID)
	}
	return r, nil
}
