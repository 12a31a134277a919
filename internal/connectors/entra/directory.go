package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMemberPages bounds the pages of a group's members that are read.
const maxMemberPages = 200

// user is the part of a Graph user that the connector reads.
type user struct {
	ID             string `json:"id"`
	UPN            string `json:"userPrincipalName"`
	AccountEnabled *bool  `json:"accountEnabled"`
}

// group is the part of a Graph group that the connector reads.
type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// findUser reads the user whose userPrincipalName (or object id) is
// account; nil when there is none.
func (g *graph) findUser(ctx context.Context, account string) (*user, error) {
	path, err := userPath(account)
	if err != nil {
		return nil, err
	}
	body, err := g.do(ctx, http.MethodGet, path+"?$select=id,userPrincipalName,accountEnabled", nil, permReadUsers)
	if e, ok := errors.AsType[*apiError](err); ok && e.status == http.StatusNotFound && e.code == "Request_ResourceNotFound" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u := &user{}
	if err := json.Unmarshal(body, u); err != nil {
		return nil, fmt.Errorf("reading the user %q: %w", account, err)
	}
	if !validID(u.ID) {
		return nil, fmt.Errorf("the answer to GET %s holds an object id that is not a GUID", path)
	}
	if !strings.EqualFold(u.UPN, account) && !strings.EqualFold(u.ID, account) {
		return nil, fmt.Errorf("the answer to GET %s is the user %q: refusing it", path, u.UPN)
	}
	return u, nil
}

// userPath is the path of the user account. Graph reads a key segment
// that starts with "$" as a system segment: such a UPN goes in the
// users('...') form, as Graph's reference asks.
func userPath(account string) (string, error) {
	if account == "." || account == ".." || !utf8.ValidString(account) || strings.ContainsFunc(account, unicode.IsControl) {
		return "", fmt.Errorf("the account %q is not a userPrincipalName or an object id", account)
	}
	if strings.HasPrefix(account, "$") {
		return "/v1.0/users('" + url.PathEscape(strings.ReplaceAll(account, "'", "''")) + "')", nil
	}
	return "/v1.0/users/" + url.PathEscape(account), nil
}

// findGroup looks up the one group whose displayName is name (Graph
// compares it case-insensitively); nil when there is none. Several
// matches are an error, never a guess.
func (g *graph) findGroup(ctx context.Context, name string) (*group, error) {
	if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return nil, fmt.Errorf("%q is not a group displayName", name)
	}
	filter := "displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	body, err := g.do(ctx, http.MethodGet, "/v1.0/groups?$filter="+queryEscape(filter)+"&$select=id,displayName", nil, permReadGroups)
	if err != nil {
		return nil, err
	}
	var list struct {
		Value    []group `json:"value"`
		NextLink string  `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("reading the groups named %q: %w", name, err)
	}
	for _, grp := range list.Value {
		if !strings.EqualFold(grp.DisplayName, name) {
			return nil, fmt.Errorf("the answer to the filter %s holds the group %q: refusing it", filter, grp.DisplayName)
		}
	}
	switch {
	case len(list.Value) > 1 || list.NextLink != "":
		return nil, fmt.Errorf("%d or more Entra ID groups have the displayName %q: refusing to pick one; rename all but one", len(list.Value), name)
	case len(list.Value) == 0:
		return nil, nil
	}
	grp := list.Value[0]
	if !validID(grp.ID) {
		return nil, fmt.Errorf("the group %q has an object id that is not a GUID", name)
	}
	return &grp, nil
}

// isMember pages through the group's direct members, following
// @odata.nextLink on the Graph host only, at most maxMemberPages pages.
func (g *graph) isMember(ctx context.Context, grp *group, userID string) (bool, error) {
	next := "/v1.0/groups/" + grp.ID + "/members?$select=id&$top=" + strconv.Itoa(g.pageSize)
	for range maxMemberPages {
		body, err := g.do(ctx, http.MethodGet, next, nil, permReadGroups)
		if err != nil {
			return false, err
		}
		var page struct {
			Value    []struct{ ID string } `json:"value"`
			NextLink string                `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return false, fmt.Errorf("reading the members of group %q: %w", grp.DisplayName, err)
		}
		for _, m := range page.Value {
			if strings.EqualFold(m.ID, userID) {
				return true, nil
			}
		}
		if page.NextLink == "" {
			return false, nil
		}
		next = page.NextLink
	}
	return false, fmt.Errorf("group %q has more than %d pages of members: refusing to read on", grp.DisplayName, maxMemberPages)
}

// addMember adds the user; a user that is a member already is success.
func (g *graph) addMember(ctx context.Context, groupID, userID string) error {
	body, err := json.Marshal(map[string]string{"@odata.id": g.base + "/v1.0/directoryObjects/" + userID})
	if err != nil {
		return err
	}
	_, err = g.do(ctx, http.MethodPost, "/v1.0/groups/"+groupID+"/members/$ref", body, permWriteMembers)
	if e, ok := errors.AsType[*apiError](err); ok && e.status == http.StatusBadRequest &&
		strings.Contains(e.message, "added object references already exist") {
		return nil
	}
	return err
}

// removeMember removes the user; a user that is no member is success.
func (g *graph) removeMember(ctx context.Context, groupID, userID string) error {
	_, err := g.do(ctx, http.MethodDelete, "/v1.0/groups/"+groupID+"/members/"+userID+"/$ref", nil, permWriteMembers)
	if e, ok := errors.AsType[*apiError](err); ok && e.status == http.StatusNotFound {
		return nil
	}
	return err
}

// setEnabled sets accountEnabled, and nothing else: the least privileged
// permission allows only that.
func (g *graph) setEnabled(ctx context.Context, userID string, enabled bool) error {
	body, err := json.Marshal(map[string]bool{"accountEnabled": enabled})
	if err != nil {
		return err
	}
	_, err = g.do(ctx, http.MethodPatch, "/v1.0/users/"+userID, body, permEnable)
	return err
}

// revokeSessions invalidates the user's refresh tokens and session cookies.
func (g *graph) revokeSessions(ctx context.Context, userID string) error {
	body, err := g.do(ctx, http.MethodPost, "/v1.0/users/"+userID+"/revokeSignInSessions", nil, permRevoke)
	if err != nil {
		return err
	}
	var answer struct {
		Value *bool `json:"value"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Value != nil && !*answer.Value {
		return errors.New("revokeSignInSessions answered false: the sessions were not revoked")
	}
	return nil
}

// queryEscape escapes a query value, spaces as %20.
func queryEscape(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// validID accepts a GUID, the form of every Entra ID object id: ids go
// into paths unescaped.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
