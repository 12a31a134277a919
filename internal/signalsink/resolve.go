package signalsink

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// resolve returns the contractors a subject names, without duplicates: a
// candidate names the contractor whose spec.email it is (ASCII case
// folded), for an email or acct URI candidate (an opaque id or an iss_sub's
// sub that looks like an address is the transmitter's name for an account,
// often a login its user chose, not a mailbox), and each contractor with an
// account of that id on one of the source's systems (case folded on
// systems whose ids ignore case). An iss_sub candidate counts only when
// its issuer is the source's own: another issuer's subject ids are not
// the transmitter's to vouch for.
func (s *Sink) resolve(ctx context.Context, src Source, subject *ssf.SubjectID) ([]types.NamespacedName, error) {
	found := map[types.NamespacedName]bool{}
	var out []types.NamespacedName
	add := func(keys []types.NamespacedName) {
		for _, k := range keys {
			if !found[k] {
				found[k] = true
				out = append(out, k)
			}
		}
	}
	systems, err := s.systems(ctx, src.Systems)
	if err != nil {
		return nil, err
	}
	for _, c := range subject.Candidates() {
		if c.Format == ssf.FormatIssSub && c.Issuer != src.Issuer {
			continue
		}
		if (c.Format == ssf.FormatEmail || c.Format == ssf.FormatAccount) && emailShaped(c.ID) {
			keys, err := kube.ContractorsByEmail(ctx, s.Client, c.ID)
			if err != nil {
				return nil, err
			}
			add(keys)
		}
		for _, sys := range systems {
			keys, err := kube.ContractorsByAccount(ctx, s.Client, sys.name, c.ID, sys.ignoreCase)
			if err != nil {
				return nil, err
			}
			add(keys)
		}
	}
	return out, nil
}

// system is one of a source's ConnectedSystems.
type system struct {
	name       string
	ignoreCase bool
}

// systems reads the source's ConnectedSystems from the cache, to learn
// whether their account ids ignore case; a system that does not exist
// (yet) compares ids exactly, as the sign-in ingester does.
func (s *Sink) systems(ctx context.Context, names []string) ([]system, error) {
	out := make([]system, 0, len(names))
	for _, name := range names {
		if name == "" {
			continue
		}
		cs := &accessv1alpha1.ConnectedSystem{}
		err := s.Client.Get(ctx, types.NamespacedName{Name: name}, cs)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading ConnectedSystem %s: %w", name, err)
		}
		out = append(out, system{name: name, ignoreCase: err == nil && cs.Spec.Type.AccountsIgnoreCase()})
	}
	return out, nil
}

// emailShaped reports whether id looks like an e-mail address, as a
// Contractor's spec.email must: one @ with something on both sides and
// no white space.
func emailShaped(id string) bool {
	at := strings.IndexByte(id, '@')
	return at > 0 && at < len(id)-1 && strings.Count(id, "@") == 1 &&
		!strings.ContainsAny(id, " \t\r\n")
}
