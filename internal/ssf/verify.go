package ssf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"k8s.io/utils/clock"
)

// Defaults of a Verifier.
const (
	// DefaultMaxAge is how old a SET's iat may be.
	DefaultMaxAge = time.Hour
	// DefaultMaxSkew is how far in the future a SET's iat may be.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxBytes bounds a SET's compact serialization.
	DefaultMaxBytes = 64 << 10
)

// TypeSecEventJWT is the JWS "typ" header of a SET (RFC 8417 §2.3).
const TypeSecEventJWT = "secevent+jwt"

// Verifier verifies SETs from one transmitter. The zero values of MaxAge,
// MaxSkew and MaxBytes mean their defaults; the other fields are required.
// A Verifier is safe for concurrent use if its KeySource and ReplayStore are.
//
// Verify accepts a SET only if every check passes: size; compact JWS with
// one signature; alg in the allow-list (RS256, RS384, RS512, PS256, ES256,
// ES384, EdDSA: never "none" nor an HMAC, whose secret every receiver would
// share); no "crit" header; "typ", when present, secevent+jwt (RFC 8417 §2.3);
// a kid naming a key of a type that fits alg; the signature; iss; aud; iat
// within [now-MaxAge, now+MaxSkew]; exp, when present, in the future; jti;
// 1 to 16 events, each a JSON object, known ones of the right shape; the
// subject; and last the replay store: a jti already recorded is refused.
//
// Verify records nothing. A receiver that has acted on a verified SET (handed
// it on, stored it) must then call Accept, which records the jti; from then
// on Verify refuses the SET as a replay. Recording only after acting means a
// SET the receiver failed to act on is not used up and can be delivered
// again, and a SET refused for another reason does not use up its jti.
// Between Verify and Accept the same SET may be verified again: a receiver
// that acts concurrently must hold back a second copy in flight (PushHandler
// does).
//
// Subject: SSF 1.0 identifies the subject with sub_id (top-level, or inside
// an event in older drafts), not with the JWT "sub" claim. A plain "sub" is
// accepted only next to a top-level "sub_id", and then ignored: sub_id is
// the subject. A "sub" with no "sub_id" is refused (invalid_request): it is
// an unqualified string whose format the receiver would have to guess, and
// guessing wrong would act on the wrong account.
type Verifier struct {
	// Issuer is the expected "iss": the transmitter's issuer identifier.
	Issuer string
	// Audience is this receiver's identifier; "aud" must contain it.
	Audience string
	// Keys finds the transmitter's signing keys, usually a *JWKS.
	Keys KeySource
	// Replay remembers accepted jtis.
	Replay ReplayStore
	// Clock tells time for the iat window.
	Clock clock.PassiveClock
	// MaxAge is how old iat may be; also how long a jti is remembered.
	MaxAge time.Duration
	// MaxSkew is how far in the future iat may be.
	MaxSkew time.Duration
	// MaxBytes bounds the token's size.
	MaxBytes int
}

// allowedAlg gives, for each accepted signature algorithm, the key type it
// needs.
func allowedAlg(alg string) (jwa.KeyType, bool) {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		return jwa.RSA(), true
	case "ES256", "ES384":
		return jwa.EC(), true
	case "EdDSA":
		return jwa.OKP(), true
	}
	return jwa.KeyType{}, false
}

// Verify checks a SET in compact serialization and returns it. A SET the
// receiver refuses, including one whose jti was recorded by Accept, gives an
// *Error with an RFC 8935 code; a failure that is not the transmitter's (keys
// unavailable, replay store full, a misconfigured Verifier) gives another
// error, to be answered with a retryable status. Verify does not record the
// jti: the caller calls Accept once it has acted on the SET.
func (v *Verifier) Verify(ctx context.Context, token []byte) (*SET, error) {
	set, err := v.verifyToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := v.checkReplay(ctx, set); err != nil {
		return nil, replayError(err)
	}
	return set, nil
}

// Accept records the jti of a SET returned by Verify, so that Verify refuses
// it from now on. Call it once the SET has been acted on, and acknowledge the
// SET to the transmitter only when it succeeds. A jti recorded meanwhile (the
// same SET accepted concurrently) gives an invalid_request *Error; a store
// that cannot record it (full) gives another, retryable error.
func (v *Verifier) Accept(ctx context.Context, set *SET) error {
	if err := v.checkConfig(); err != nil {
		return err
	}
	expires := set.IssuedAt.Add(cmpOr(v.MaxAge, DefaultMaxAge) + time.Second)
	return replayError(v.Replay.Record(ctx, set.Issuer, set.JTI, expires))
}

// checkReplay asks the replay store whether set's jti was recorded (a
// wrapped ErrReplay) or could not be recorded now (another error).
func (v *Verifier) checkReplay(ctx context.Context, set *SET) error {
	return v.Replay.Check(ctx, set.Issuer, set.JTI)
}

// replayError turns a replay store error into Verify's: ErrReplay into an
// invalid_request *Error, anything else into a retryable error.
func replayError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplay):
		return newError(CodeInvalidRequest, "jti already received: replayed SET")
	default:
		return fmt.Errorf("replay store: %w", err)
	}
}

// verifyToken makes every check of Verify except the replay store's.
func (v *Verifier) verifyToken(ctx context.Context, token []byte) (*SET, error) {
	if err := v.checkConfig(); err != nil {
		return nil, err
	}
	if maxBytes := cmpOr(v.MaxBytes, DefaultMaxBytes); len(token) > maxBytes {
		return nil, newError(CodeInvalidRequest, fmt.Sprintf("SET larger than %d bytes", maxBytes))
	}
	alg, kid, err := parseHeader(token)
	if err != nil {
		return nil, err
	}
	key, err := v.key(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(token, jws.WithKey(alg, key), jws.WithCompact())
	if err != nil {
		return nil, newError(CodeAuthenticationFailed, "signature verification failed")
	}
	return v.checkClaims(payload)
}

func (v *Verifier) checkConfig() error {
	if v.Issuer == "" || v.Audience == "" || v.Keys == nil || v.Replay == nil || v.Clock == nil {
		return errors.New("ssf verifier: Issuer, Audience, Keys, Replay and Clock are required")
	}
	return nil
}

// parseHeader reads the protected header of a compact JWS and checks it.
func parseHeader(token []byte) (jwa.SignatureAlgorithm, string, error) {
	var none jwa.SignatureAlgorithm
	if bytes.Count(token, []byte{'.'}) != 2 {
		return none, "", newError(CodeInvalidRequest, "SET is not a JWS in compact serialization")
	}
	msg, err := jws.Parse(token, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return none, "", newError(CodeInvalidRequest, "SET is not a well-formed JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok {
		return none, "", newError(CodeInvalidRequest, "alg header missing")
	}
	if _, allowed := allowedAlg(alg.String()); !allowed {
		return none, "", newError(CodeAuthenticationFailed, "alg is not one of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA")
	}
	if _, ok := h.Critical(); ok || h.Has("b64") {
		return none, "", newError(CodeInvalidRequest, "crit and b64 headers are not supported")
	}
	if typ, ok := h.Type(); ok && !isSecEventType(typ) {
		return none, "", newError(CodeInvalidRequest, "typ header is not secevent+jwt")
	}
	kid, _ := h.KeyID()
	return alg, kid, nil
}

// isSecEventType accepts the media type with or without its "application/"
// prefix, case-insensitively (RFC 7515 §4.1.9).
func isSecEventType(typ string) bool {
	return strings.TrimPrefix(strings.ToLower(typ), "application/") == TypeSecEventJWT
}

// key finds the key for kid and checks that it fits alg.
func (v *Verifier) key(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
	if kid == "" {
		return nil, newError(CodeInvalidKey, "kid header missing")
	}
	key, err := v.Keys.Key(ctx, kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, newError(CodeInvalidKey, "no signing key with this kid")
	case err != nil:
		return nil, fmt.Errorf("finding the signing key: %w", err)
	}
	kty, _ := allowedAlg(alg.String())
	if key.KeyType() != kty {
		return nil, newError(CodeInvalidKey, "key type does not fit alg")
	}
	if keyAlg, ok := key.Algorithm(); ok && keyAlg.String() != alg.String() {
		return nil, newError(CodeInvalidKey, "key is for another alg")
	}
	return key, nil
}

// checkClaims checks the verified payload.
func (v *Verifier) checkClaims(payload []byte) (*SET, error) {
	c, err := parseClaims(payload)
	if err != nil {
		return nil, newError(CodeInvalidRequest, err.Error())
	}
	if c.Iss != v.Issuer {
		return nil, newError(CodeInvalidIssuer, "iss is not the expected issuer")
	}
	aud, err := c.audience()
	if err != nil {
		return nil, newError(CodeInvalidRequest, err.Error())
	}
	if !slices.Contains(aud, v.Audience) {
		return nil, newError(CodeInvalidAudience, "aud does not include this receiver")
	}
	set, err := v.buildSET(c, aud)
	if err != nil {
		return nil, newError(CodeInvalidRequest, err.Error())
	}
	return set, nil
}

// buildSET checks the remaining claims and assembles the SET.
func (v *Verifier) buildSET(c *wireClaims, aud []string) (*SET, error) {
	iat, err := v.checkTimes(c)
	if err != nil {
		return nil, err
	}
	if c.Jti == "" || len(c.Jti) > maxJTILen {
		return nil, fmt.Errorf("jti missing or longer than %d bytes", maxJTILen)
	}
	if err := checkEvents(c.Events); err != nil {
		return nil, err
	}
	if err := checkSubjectClaims(c); err != nil {
		return nil, err
	}
	txn, err := c.txn()
	if err != nil {
		return nil, err
	}
	set := &SET{Issuer: c.Iss, Audience: aud, IssuedAt: iat, JTI: c.Jti, TxnID: txn, Subject: c.SubID, Events: c.Events}
	if _, err := set.DecodeEvents(); err != nil {
		return nil, err
	}
	return set, nil
}

// checkTimes checks iat against the window and exp, when present, against now.
func (v *Verifier) checkTimes(c *wireClaims) (time.Time, error) {
	if c.Iat == nil {
		return time.Time{}, errors.New("iat missing")
	}
	iat, err := numericDate(*c.Iat)
	if err != nil {
		return time.Time{}, fmt.Errorf("iat: %w", err)
	}
	now := v.Clock.Now()
	if iat.Before(now.Add(-cmpOr(v.MaxAge, DefaultMaxAge))) {
		return time.Time{}, errors.New("iat is older than the accepted window")
	}
	if iat.After(now.Add(cmpOr(v.MaxSkew, DefaultMaxSkew))) {
		return time.Time{}, errors.New("iat is in the future")
	}
	if c.Exp != nil {
		exp, err := numericDate(*c.Exp)
		if err != nil || !exp.After(now) {
			return time.Time{}, errors.New("exp is invalid or past")
		}
	}
	return iat, nil
}

// checkSubjectClaims applies the sub/sub_id rule documented on Verifier.
func checkSubjectClaims(c *wireClaims) error {
	if c.Sub != nil && c.SubID == nil {
		return errors.New("sub claim without sub_id: SSF identifies the subject with sub_id")
	}
	if c.SubID != nil {
		if err := c.SubID.Validate(); err != nil {
			return fmt.Errorf("sub_id: %w", err)
		}
	}
	return nil
}

// cmpOr returns v, or def when v is zero or negative.
func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
