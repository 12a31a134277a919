package google

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"
)

// The admin privileges each call needs, for the errors of a 403 (Admin
// console > Account > Admin roles). Google's API reference documents the
// scopes of each method, not the privileges; these are the role
// privileges that cover them.
const (
	privReadUsers  = "the Admin API privilege Users > Read"
	privUpdateUser = "the Admin API privilege Users > Update (suspending and restoring users)"
	privSignOut    = "the privileges to manage the users' security (signing users out), besides Users > Read and Update"
	privGroups     = "the Admin API privileges Groups > Read and Groups > Update (membership)"
)

// user is the part of a Directory API user that the connector reads.
type user struct {
	id, email string
	suspended bool
}

// getUser reads the user whose primary email (or id) is account; nil when
// there is none. An answer for another user (account is an alias of it)
// is refused: the contractor's account is the primary email.
func (a *api) getUser(ctx context.Context, account string) (*user, error) {
	var u *admin.User
	status, err := a.do(ctx, fmt.Sprintf("reading the user %q", account), privReadUsers, func() error {
		var err error
		u, err = a.svc.Users.Get(account).Fields("id", "primaryEmail", "suspended").Context(ctx).Do()
		return err
	}, http.StatusNotFound)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotFound:
		return nil, nil
	case u == nil || u.Id == "":
		return nil, fmt.Errorf("the answer for the user %q has no id", account)
	case !strings.EqualFold(u.PrimaryEmail, account) && u.Id != account:
		return nil, fmt.Errorf("the account %q is an alias of the user %q: set the contractor's account to the user's primary email",
			account, u.PrimaryEmail)
	}
	return &user{id: u.Id, email: u.PrimaryEmail, suspended: u.Suspended}, nil
}

// setSuspended suspends or restores the user, and sends nothing else.
func (a *api) setSuspended(ctx context.Context, u *user, suspended bool) error {
	what := "suspending"
	if !suspended {
		what = "unsuspending"
	}
	_, err := a.do(ctx, fmt.Sprintf("%s the user %q", what, u.email), privUpdateUser, func() error {
		// suspended=false is sent too, not omitted as a zero value.
		_, err := a.svc.Users.Patch(u.id, &admin.User{Suspended: suspended, ForceSendFields: []string{"Suspended"}}).
			Fields("id").Context(ctx).Do()
		return err
	})
	return err
}

// signOut ends the user's web and device sessions and resets its sign-in
// cookies (users.signOut).
func (a *api) signOut(ctx context.Context, u *user) error {
	_, err := a.do(ctx, fmt.Sprintf("signing the user %q out", u.email), privSignOut, func() error {
		return a.svc.Users.SignOut(u.id).Context(ctx).Do()
	})
	return err
}

// membership reports whether the group exists and whether the user is a
// direct member of it (members.get; hasMember would count nested
// memberships too, which the connector does not manage). A 404 for the
// member is told apart from one for the group by listing one member.
func (a *api) membership(ctx context.Context, group string, u *user) (exists, member bool, err error) {
	var m *admin.Member
	status, err := a.do(ctx, fmt.Sprintf("reading the membership of %q in the group %q", u.email, group), privGroups, func() error {
		var err error
		m, err = a.svc.Members.Get(group, u.id).Fields("id", "email").Context(ctx).Do()
		return err
	}, http.StatusNotFound)
	switch {
	case err != nil:
		return false, false, err
	case status == 0 && m != nil && (m.Id == u.id || strings.EqualFold(m.Email, u.email)):
		return true, true, nil
	case status == 0:
		return false, false, fmt.Errorf("the answer for the member %q of the group %q is another member: refusing it", u.email, group)
	}
	exists, err = a.groupExists(ctx, group)
	return exists, false, err
}

// groupExists lists at most one member of the group: the member scope
// allows that, where groups.get would need a group scope.
func (a *api) groupExists(ctx context.Context, group string) (bool, error) {
	status, err := a.do(ctx, fmt.Sprintf("reading the group %q", group), privGroups, func() error {
		_, err := a.svc.Members.List(group).MaxResults(1).Fields("kind").Context(ctx).Do()
		return err
	}, http.StatusNotFound)
	return err == nil && status == 0, err
}

// addMember adds the user as a MEMBER; a member already (409) is success.
func (a *api) addMember(ctx context.Context, group string, u *user) error {
	_, err := a.do(ctx, fmt.Sprintf("adding %q to the group %q", u.email, group), privGroups, func() error {
		_, err := a.svc.Members.Insert(group, &admin.Member{Email: u.email, Role: "MEMBER"}).Fields("id").Context(ctx).Do()
		return err
	}, http.StatusConflict)
	return err
}

// removeMember removes the user; no member (404) is success.
func (a *api) removeMember(ctx context.Context, group string, u *user) error {
	_, err := a.do(ctx, fmt.Sprintf("removing %q from the group %q", u.email, group), privGroups, func() error {
		return a.svc.Members.Delete(group, u.id).Context(ctx).Do()
	}, http.StatusNotFound)
	return err
}
