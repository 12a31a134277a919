package ssfserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// RotateKey adds a new ES256 signing key, published in the JWKS at once and
// used for every SET signed from now on. The previous keys stay published
// until RetireKey. It returns the new key's kid.
func (s *Server) RotateKey() (string, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating signing key: %w", err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return "", fmt.Errorf("importing signing key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keySeq++
	kid := fmt.Sprintf("ssf-key-%d", s.keySeq)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: "ES256", jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			return "", fmt.Errorf("setting %s: %w", name, err)
		}
	}
	s.keys = append(s.keys, key)
	return kid, nil
}

// RetireKey removes the key kid from the JWKS. The signing key cannot be
// retired; it reports whether a key was removed.
func (s *Server) RetireKey(kid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys[:len(s.keys)-1] {
		if id, _ := k.KeyID(); id == kid {
			s.keys = slices.Delete(s.keys, i, i+1)
			return true
		}
	}
	return false
}

// KeyIDs are the kids of the published keys; the last one signs.
func (s *Server) KeyIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		id, _ := k.KeyID()
		out = append(out, id)
	}
	return out
}

func (s *Server) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	set := jwk.NewSet()
	for _, k := range s.keys {
		pub, err := jwk.PublicKeyOf(k)
		if err == nil {
			err = set.AddKey(pub)
		}
		if err != nil {
			s.mu.Unlock()
			writeError(w, http.StatusInternalServerError, "server_error", "cannot publish keys")
			return
		}
	}
	s.mu.Unlock()
	body, err := json.Marshal(set)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "cannot encode keys")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

// signLocked makes a SET for st with the current key. s.mu is held.
func (s *Server) signLocked(st *stream, eventType string, subject *ssf.SubjectID, body map[string]any) (jti string, token []byte, err error) {
	if body == nil {
		body = map[string]any{}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return "", nil, fmt.Errorf("encoding event body: %w", err)
	}
	signer := ssf.Signer{Issuer: s.Issuer(), Key: s.keys[len(s.keys)-1], Clock: s.opts.Clock}
	jti = randomHex(16)
	token, err = signer.Sign(ssf.SET{
		Audience: []string{st.cfg.Audience},
		JTI:      jti,
		Subject:  subject,
		Events:   map[string]json.RawMessage{eventType: raw},
	})
	if err != nil {
		return "", nil, fmt.Errorf("signing SET: %w", err)
	}
	return jti, token, nil
}

// defaultEvents are the CAEP 1.0 and RISC 1.0 event types internal/ssf knows.
func defaultEvents() []string {
	return []string{
		ssf.EventSessionRevoked, ssf.EventCredentialChange, ssf.EventAssuranceLevelChange,
		ssf.EventDeviceComplianceChange, ssf.EventTokenClaimsChange,
		ssf.EventAccountDisabled, ssf.EventAccountEnabled, ssf.EventAccountPurged,
		ssf.EventCredentialCompromise, ssf.EventIdentifierChanged, ssf.EventIdentifierRecycled,
	}
}
