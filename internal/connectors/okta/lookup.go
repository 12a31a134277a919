package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// User statuses the connector acts on.
const (
	statusActive        = "ACTIVE"
	statusSuspended     = "SUSPENDED"
	statusDeprovisioned = "DEPROVISIONED"
)

// What one lookup may read: group members come 1000 a page, so the
// membership of a group of up to 100,000 users is known; a bigger group
// is an error rather than an unbounded read.
const (
	membersPageSize = 1000
	maxPages        = 100
	groupSearchSize = 10
)

type user struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Login string `json:"login"`
	} `json:"profile"`
}

type group struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

// managed refuses a group whose members Okta does not let the API change:
// an APP_GROUP is imported from an app (Active Directory, say), and
// BUILT_IN is Everyone.
func (g *group) managed() error {
	if g.Type != "" && g.Type != "OKTA_GROUP" {
		return fmt.Errorf("the Okta group %q is of type %s, whose members are not managed in Okta: grant an OKTA_GROUP", g.Profile.Name, g.Type)
	}
	return nil
}

// suspendable is true of the statuses of a user who has activated and is
// not suspended, which Okta's suspend acts on.
func suspendable(status string) bool {
	switch status {
	case statusActive, "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT":
		return true
	}
	return false
}

// findUser reads the user whose login is login, or nil when there is
// none. Okta resolves the path parameter as an id, a login or a login's
// short name, so an answer about another login is refused.
func (a *api) findUser(ctx context.Context, login string) (*user, error) {
	seg, err := pathSegment(login)
	if err != nil {
		return nil, fmt.Errorf("the account %w", err)
	}
	resp, err := a.call(ctx, routeGetUser, http.MethodGet, "/api/v1/users/"+seg)
	if se, ok := errors.AsType[*statusError](err); ok && se.code == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u := &user{}
	if err := json.Unmarshal(resp.body, u); err != nil || u.ID == "" {
		return nil, fmt.Errorf("reading the Okta user %q: the answer is not a user", login)
	}
	if !strings.EqualFold(u.Profile.Login, login) {
		return nil, fmt.Errorf("the org answered the login %q with the user %s, whose login is %q: give the contractor's full Okta login as the account",
			login, u.ID, u.Profile.Login)
	}
	return u, nil
}

// findGroup finds the one group called name, or nil when there is none. An
// answer with several groups, or with a group of another name, is refused:
// the connector never guesses.
func (a *api) findGroup(ctx context.Context, name string) (*group, error) {
	filter, err := nameFilter(name)
	if err != nil {
		return nil, fmt.Errorf("the group name %w", err)
	}
	q := url.Values{"search": {filter}, "limit": {fmt.Sprint(groupSearchSize)}}
	resp, err := a.call(ctx, routeListGroups, http.MethodGet, "/api/v1/groups?"+q.Encode())
	if err != nil {
		return nil, err
	}
	var groups []group
	if err := json.Unmarshal(resp.body, &groups); err != nil {
		return nil, fmt.Errorf("reading the Okta groups named %q: the answer is not a list of groups", name)
	}
	if len(groups) > 1 || nextLink(resp.header) != "" {
		return nil, fmt.Errorf("several Okta groups match the name %q: refusing to pick one; rename them apart", name)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	if g := &groups[0]; !strings.EqualFold(g.Profile.Name, name) || g.ID == "" {
		return nil, fmt.Errorf("the org answered the search for the group %q with the group %q: refusing it", name, g.Profile.Name)
	}
	return &groups[0], nil
}

// isMember pages through the group's members until it finds userID, for at
// most maxPages pages.
func (a *api) isMember(ctx context.Context, g *group, userID string) (bool, error) {
	seg, err := pathSegment(g.ID)
	if err != nil {
		return false, fmt.Errorf("the group id %w", err)
	}
	endpoint := "/api/v1/groups/" + seg + "/users"
	path := endpoint + "?limit=" + fmt.Sprint(membersPageSize)
	for range maxPages {
		resp, err := a.call(ctx, routeGroupMembers, http.MethodGet, path)
		if err != nil {
			return false, err
		}
		var members []user
		if err := json.Unmarshal(resp.body, &members); err != nil {
			return false, fmt.Errorf("reading the members of the Okta group %q: the answer is not a list of users", g.Profile.Name)
		}
		for _, m := range members {
			if m.ID == userID {
				return true, nil
			}
		}
		next := nextLink(resp.header)
		if next == "" {
			return false, nil
		}
		if path, err = a.samePath(next, endpoint); err != nil {
			return false, fmt.Errorf("paging through the members of the Okta group %q: %w", g.Profile.Name, err)
		}
	}
	return false, fmt.Errorf("the Okta group %q has more than %d members, more than the connector reads", g.Profile.Name, maxPages*membersPageSize)
}

// samePath is a next link's path and query, once it is known to point to
// endpoint on the org: the credentials go nowhere else.
func (a *api) samePath(link, endpoint string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("the next page's link does not parse")
	}
	want, _ := url.PathUnescape(endpoint)
	if u.Scheme != a.base.Scheme || !strings.EqualFold(u.Host, a.base.Host) || u.Path != want || u.User != nil {
		return "", fmt.Errorf("the next page's link leaves %s%s: refusing to follow it", a.base.Host, endpoint)
	}
	return endpoint + "?" + u.RawQuery, nil
}

// nextLink is the URL of the Link header's rel="next", or "".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); k == "rel" && strings.Trim(v, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func (a *api) lifecycle(ctx context.Context, userID, op string) error {
	seg, err := pathSegment(userID)
	if err != nil {
		return fmt.Errorf("the user id %w", err)
	}
	_, err = a.call(ctx, routeLifecycle, http.MethodPost, "/api/v1/users/"+seg+"/lifecycle/"+op)
	return err
}

func (a *api) setMember(ctx context.Context, groupID, userID string, member bool) error {
	g, err := pathSegment(groupID)
	if err != nil {
		return fmt.Errorf("the group id %w", err)
	}
	u, err := pathSegment(userID)
	if err != nil {
		return fmt.Errorf("the user id %w", err)
	}
	method := http.MethodDelete
	if member {
		method = http.MethodPut
	}
	_, err = a.call(ctx, routeChangeMembers, method, "/api/v1/groups/"+g+"/users/"+u)
	return err
}

// clearSessions ends all of the user's Okta sessions and revokes the OAuth
// tokens issued to it.
func (a *api) clearSessions(ctx context.Context, userID string) error {
	seg, err := pathSegment(userID)
	if err != nil {
		return fmt.Errorf("the user id %w", err)
	}
	_, err = a.call(ctx, routeClearSessions, http.MethodDelete, "/api/v1/users/"+seg+"/sessions?oauthTokens=true")
	return err
}

// pathSegment is s as one escaped URL path segment. "", "." and "..",
// which a server would resolve to another resource, are refused.
func pathSegment(s string) (string, error) {
	if s == "" || s == "." || s == ".." {
		return "", fmt.Errorf("%q cannot name an Okta object", s)
	}
	return url.PathEscape(s), nil
}

// nameFilter is the search expression `profile.name eq "name"`, the name
// written as a string literal: a backslash before each `\` and `"`. Names
// that are not UTF-8 or hold control characters, which no Okta group name
// has, are refused.
func nameFilter(name string) (string, error) {
	if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%q is empty, not UTF-8, or has control characters", name)
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `profile.name eq "` + r.Replace(name) + `"`, nil
}
