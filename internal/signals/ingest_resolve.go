package signals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// batch is one contractor's events in a request.
type batch struct {
	contractor *accessv1alpha1.Contractor
	signIns    []SignIn
	fresh      []SignIn
}

// resolve maps each valid event to its contractor, read once per
// contractor, and enriches it; events naming no contractor are rejected.
// Only a failing store fails the batch, never what an event says.
func (in *Ingester) resolve(ctx context.Context, valid []Valid, res *Result) (map[types.NamespacedName]*batch, []types.NamespacedName, error) {
	batches := map[types.NamespacedName]*batch{}
	refused := map[types.NamespacedName]string{}
	accounts := map[accountKey]owner{}
	var order []types.NamespacedName
	for _, v := range valid {
		key, reason, err := in.subject(ctx, v.Event, accounts)
		if err != nil {
			return nil, nil, err
		}
		b := batches[key]
		if reason == "" && b == nil {
			if reason = refused[key]; reason == "" {
				var c *accessv1alpha1.Contractor
				if c, reason, err = in.contractor(ctx, key); err != nil {
					return nil, nil, err
				}
				if reason != "" {
					refused[key] = reason
				} else {
					b = &batch{contractor: c}
					batches[key] = b
					order = append(order, key)
				}
			}
		}
		if reason != "" {
			res.Rejected = append(res.Rejected, Rejection{Index: v.Index, Error: reason})
			continue
		}
		b.signIns = append(b.signIns, in.enrich(key, v, res))
	}
	return batches, order, nil
}

// contractor reads the contractor an event names; reason says why there
// is none to take the event.
func (in *Ingester) contractor(ctx context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, string, error) {
	c, err := in.store.Contractor(ctx, key)
	switch {
	case refusedKey(err):
		return nil, fmt.Sprintf("contractor %s cannot be read: %v", key, err), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading contractor %s: %w", key, err)
	case c == nil:
		return nil, fmt.Sprintf("contractor %s does not exist", key), nil
	}
	return c, "", nil
}

// refusedKey reports whether the API server refused a read as malformed:
// the fault of the event that named the object, not of the store.
func refusedKey(err error) bool { return apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) }

// owner is the contractor an account resolved to, or why it resolved to
// none; unlisted when no contractor lists the account at all.
type owner struct {
	key      types.NamespacedName
	reason   string
	unlisted bool
}

// accountKey is one id of an account on a system.
type accountKey struct{ system, id string }

// subject finds the contractor an event is about; reason says why it
// names none. An account is looked up by its id and, only when no
// contractor lists that, by each alias in order. accounts remembers the
// batch's lookups, so a batch of one account's events looks it up once.
func (in *Ingester) subject(ctx context.Context, e Event, accounts map[accountKey]owner) (types.NamespacedName, string, error) {
	if e.Account == nil {
		key, _ := ParseKey(e.Contractor) // Parse checked it
		return key, "", nil
	}
	first, err := in.account(ctx, accountKey{e.Account.System, e.Account.ID}, accounts)
	if err != nil || !first.unlisted {
		return first.key, first.reason, err
	}
	for _, alias := range e.Account.Aliases {
		o, err := in.account(ctx, accountKey{e.Account.System, alias}, accounts)
		if err != nil || !o.unlisted {
			return o.key, o.reason, err
		}
	}
	if len(e.Account.Aliases) > 0 {
		return first.key, fmt.Sprintf("no contractor has account %q or its aliases %q on system %q",
			e.Account.ID, e.Account.Aliases, e.Account.System), nil
	}
	return first.key, first.reason, nil
}

// account looks up the owner of one account id, once per batch.
func (in *Ingester) account(ctx context.Context, a accountKey, accounts map[accountKey]owner) (owner, error) {
	if o, ok := accounts[a]; ok {
		return o, nil
	}
	keys, err := in.store.ContractorsByAccount(ctx, a.system, a.id)
	if err != nil && !refusedKey(err) {
		return owner{}, fmt.Errorf("looking up account %q on %q: %w", a.id, a.system, err)
	}
	var o owner
	switch {
	case err != nil:
		o.reason = fmt.Sprintf("account %q on system %q cannot be looked up: %v", a.id, a.system, err)
	case len(keys) == 0:
		o.reason = fmt.Sprintf("no contractor has account %q on system %q", a.id, a.system)
		o.unlisted = true
	case len(keys) == 1:
		o.key = keys[0]
	default:
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		slices.Sort(names)
		o.reason = fmt.Sprintf("account %q on system %q belongs to %d contractors (%s): name the contractor instead",
			a.id, a.system, len(keys), strings.Join(names, ", "))
	}
	accounts[a] = o
	return o, nil
}

// enrich looks the event's address up in the databases and fills what
// they do not know from the provider's view; notEnriched counts what the
// databases did not know.
func (in *Ingester) enrich(key types.NamespacedName, v Valid, res *Result) SignIn {
	g := in.enricher.Enrich(v.Addr)
	for _, m := range g.Missing {
		if res.NotEnriched == nil {
			res.NotEnriched = map[string]int{}
		}
		res.NotEnriched[m]++
	}
	fillFromProvider(&g, v.Event.Provider)
	return SignIn{Contractor: key.String(), Time: v.Event.Time, IP: v.Addr, Country: g.Country, City: g.City,
		ASN: g.ASN, ASOrg: g.ASOrg, Lat: g.Lat, Lon: g.Lon, HasLocation: g.HasLocation, Anonymizer: g.Anonymizer,
		DeviceID: v.Event.DeviceID, UserAgent: v.Event.UserAgent, Locale: v.Event.Locale, Timezone: v.Event.Timezone,
		Provider: v.Event.Provider}
}

// ParseKey parses "namespace/name"; false when CheckKey finds it wrong.
func ParseKey(s string) (types.NamespacedName, bool) {
	key, err := CheckKey(s)
	return key, err == nil
}

// CheckKey parses "namespace/name" and says what is wrong with it: a
// missing part, or a namespace that is no DNS-1123 label or a name that is
// no DNS-1123 subdomain, which no namespaced object can have. So a key
// such as "../etc" never reaches a cache or the API server.
func CheckKey(s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, errors.New("want two parts separated by a slash")
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("the namespace is not a valid namespace name: %s", strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("the name is not a valid object name: %s", strings.Join(msgs, "; "))
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}
