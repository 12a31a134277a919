package entra

import (
	"context"
	"errors"
	"fmt"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// membership is one group the user must be in or out of.
type membership struct {
	name  string
	group *group // nil: no such group
	want  bool
	has   bool
	// kept: another grant of the contractor keeps the user in the group,
	// which want would leave.
	kept bool
}

// action is one planned change, or, without run, a note of something left
// as it is on purpose.
type action struct {
	what string
	run  func() error
}

// reconcile reads the memberships, then runs the actions that take the
// user to state, and none when it is there already. It stops at the first
// failure and returns what was done so far with the error.
func (c *Connector) reconcile(ctx context.Context, g *graph, t connectors.Target, state accessv1alpha1.GrantState, u *user) (connectors.Change, error) {
	var steps connectors.Steps
	actions, err := c.plan(ctx, g, t, state, u)
	for _, a := range actions {
		if err != nil {
			break
		}
		if a.run == nil {
			steps.Note(a.what)
			continue
		}
		err = steps.Do(a.what, a.run)
	}
	if t.EndsSessions(state) {
		// Last, and even after a failure: a change that failed halfway
		// still cuts the user's sessions (and is retried whole).
		if rerr := steps.Do("revoked the sign-in sessions", func() error { return g.revokeSessions(ctx, u.ID) }); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return steps.Change(), err
}

// plan orders the actions the most restrictive first (disable, leave
// groups), then join groups and enable, and last revoke the sessions, so
// that no session is opened again in between; reconcile revokes the
// sessions after them, even when one failed. Membership of the grant's
// group follows state; accountEnabled (Suspend mode) and the quarantine
// group (Group mode) belong to the account and follow Target.AccountState.
func (c *Connector) plan(ctx context.Context, g *graph, t connectors.Target, state accessv1alpha1.GrantState, u *user) ([]action, error) {
	s := t.System.Spec.Entra
	account := t.AccountState(state)
	groupMode := s.QuarantineMode == accessv1alpha1.IdentityQuarantineGroup
	want := connectors.KeepsMembership(state, groupMode)
	groups := []*membership{{
		name: t.Grant.Spec.Entitlement.Name,
		want: want,
		kept: !want && t.MembershipKeptBySibling(groupMode),
	}}
	if groupMode {
		if s.QuarantineGroup == "" {
			return nil, fmt.Errorf("spec.entra.quarantineMode is Group without a quarantineGroup")
		}
		groups = append(groups, &membership{name: s.QuarantineGroup, want: account == accessv1alpha1.GrantQuarantined})
	}
	for _, m := range groups {
		if err := g.observe(ctx, m, u.ID); err != nil {
			return nil, err
		}
	}
	if groupMode && groups[0].group != nil && groups[1].group != nil && groups[0].group.ID == groups[1].group.ID {
		return nil, fmt.Errorf("spec.entra.quarantineGroup %q is the grant's own group", s.QuarantineGroup)
	}
	disable, enable, err := accountActions(ctx, g, u, account, groupMode, t.Restores(state))
	if err != nil {
		return nil, err
	}
	actions := append(disable, memberActions(ctx, g, groups, u.ID)...)
	return append(actions, enable...), nil
}

// accountActions disable the account while the account is quarantined and
// enable it while it is active, in Suspend mode.
func accountActions(ctx context.Context, g *graph, u *user, account accessv1alpha1.GrantState, groupMode, restores bool) (disable, enable []action, err error) {
	if groupMode || (account != accessv1alpha1.GrantQuarantined && account != accessv1alpha1.GrantActive) {
		return nil, nil, nil
	}
	if u.AccountEnabled == nil {
		return nil, nil, fmt.Errorf("the user %q came back without accountEnabled", u.UPN)
	}
	switch enabled := *u.AccountEnabled; {
	case account == accessv1alpha1.GrantQuarantined && enabled:
		disable = []action{{"disabled the account", func() error { return g.setEnabled(ctx, u.ID, false) }}}
	case account == accessv1alpha1.GrantActive && !enabled && restores:
		enable = []action{{"enabled the account", func() error { return g.setEnabled(ctx, u.ID, true) }}}
	}
	return disable, enable, nil
}

// memberActions leave groups first, then join groups. Joining a group that
// does not exist fails at its turn, after the restrictive actions ran. A
// group that another grant of the contractor keeps is noted, not left.
func memberActions(ctx context.Context, g *graph, groups []*membership, userID string) []action {
	var leave, join []action
	for _, m := range groups {
		switch {
		case m.has && !m.want && m.kept:
			leave = append(leave, action{what: connectors.KeptBySibling("in group " + m.group.DisplayName)})
		case m.has && !m.want:
			leave = append(leave, action{"removed from group " + m.group.DisplayName, func() error { return g.removeMember(ctx, m.group.ID, userID) }})
		case m.want && !m.has && m.group == nil:
			join = append(join, action{"", func() error {
				return fmt.Errorf("no Entra ID group has the displayName %q: create it, or fix the grant's spec.entitlement.name or spec.entra.quarantineGroup", m.name)
			}})
		case m.want && !m.has:
			join = append(join, action{"added to group " + m.group.DisplayName, func() error { return g.addMember(ctx, m.group.ID, userID) }})
		}
	}
	return append(leave, join...)
}

// observe resolves m's group and whether the user is a member of it.
func (g *graph) observe(ctx context.Context, m *membership, userID string) error {
	grp, err := g.findGroup(ctx, m.name)
	if err != nil || grp == nil {
		return err
	}
	m.group = grp
	m.has, err = g.isMember(ctx, grp, userID)
	return err
}
