package ssf

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"k8s.io/utils/clock"
)

// Signer makes SETs for a transmitter: compact JWS with typ secevent+jwt and
// the key's kid in the protected header. The caller gives the jti, so that an
// identifier it already has (a transition id) becomes the jti and a SET sent
// twice is recognised as one by receivers.
type Signer struct {
	// Issuer is the "iss" of every SET.
	Issuer string
	// Key is the private signing key. It needs a kid and an "alg" among
	// those a Verifier accepts (RS256, RS384, RS512, PS256, ES256, ES384,
	// EdDSA).
	Key jwk.Key
	// Clock gives iat when the SET has none. Required in that case.
	Clock clock.PassiveClock
}

// Sign makes a SET from set's Audience, IssuedAt (the Clock's now when
// zero), JTI, TxnID, Subject and Events; set.Issuer is ignored for Issuer.
func (s *Signer) Sign(set SET) ([]byte, error) {
	alg, kid, err := s.keyParams()
	if err != nil {
		return nil, err
	}
	claims, err := s.claims(set)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("encoding SET claims: %w", err)
	}
	hdr := jws.NewHeaders()
	for name, value := range map[string]any{jws.TypeKey: TypeSecEventJWT, jws.KeyIDKey: kid} {
		if err := hdr.Set(name, value); err != nil {
			return nil, fmt.Errorf("setting the %s header: %w", name, err)
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(alg, s.Key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("signing SET: %w", err)
	}
	return token, nil
}

func (s *Signer) keyParams() (jwa.SignatureAlgorithm, string, error) {
	var none jwa.SignatureAlgorithm
	if s.Issuer == "" || s.Key == nil {
		return none, "", errors.New("ssf signer: Issuer and Key are required")
	}
	kid, ok := s.Key.KeyID()
	if !ok || kid == "" {
		return none, "", errors.New("ssf signer: key has no kid")
	}
	keyAlg, ok := s.Key.Algorithm()
	if !ok {
		return none, "", errors.New("ssf signer: key has no alg")
	}
	alg, ok := jwa.LookupSignatureAlgorithm(keyAlg.String())
	if _, allowed := allowedAlg(keyAlg.String()); !ok || !allowed {
		return none, "", errors.New("ssf signer: key alg is not one receivers accept")
	}
	return alg, kid, nil
}

func (s *Signer) claims(set SET) (*outClaims, error) {
	if set.JTI == "" || len(set.JTI) > maxJTILen {
		return nil, fmt.Errorf("ssf signer: jti missing or longer than %d bytes", maxJTILen)
	}
	if err := checkEvents(set.Events); err != nil {
		return nil, fmt.Errorf("ssf signer: %w", err)
	}
	if set.Subject != nil {
		if err := set.Subject.Validate(); err != nil {
			return nil, fmt.Errorf("ssf signer: sub_id: %w", err)
		}
	}
	iat := set.IssuedAt
	if iat.IsZero() {
		if s.Clock == nil {
			return nil, errors.New("ssf signer: no iat and no Clock")
		}
		iat = s.Clock.Now()
	}
	c := &outClaims{Iss: s.Issuer, Iat: iat.Unix(), Jti: set.JTI, Txn: set.TxnID, SubID: set.Subject, Events: set.Events}
	switch len(set.Audience) {
	case 0:
	case 1:
		c.Aud = set.Audience[0]
	default:
		c.Aud = set.Audience
	}
	return c, nil
}
