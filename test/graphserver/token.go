package graphserver

import (
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515 section 4.1.7).
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// app is an application registration with its service principal in the
// tenant; roles are the application permissions granted admin consent.
type app struct {
	clientID string
	spID     string
	secret   string
	certs    []*x509.Certificate
	roles    []string
}

// RegisterApp registers an application and its service principal. It may
// authenticate with secret (when not empty) and with a client assertion
// signed by cert's key (when cert is not nil). appRoles are the Microsoft
// Graph application permissions granted to it (e.g. "GroupMember.ReadWrite.All");
// they go into the roles claim of tokens issued afterwards. Registering a
// clientID again replaces the registration.
func (s *Server) RegisterApp(clientID, secret string, cert *x509.Certificate, appRoles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &app{clientID: clientID, spID: newGUID(), secret: secret, roles: slices.Clone(appRoles)}
	if cert != nil {
		a.certs = []*x509.Certificate{cert}
	}
	s.apps[clientID] = a
}

// AddAppCertificate adds another certificate to a registered application, as
// during a rotation.
func (s *Server) AddAppCertificate(clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[clientID]; a != nil {
		a.certs = append(a.certs, cert)
	}
}

// SetAppRoles replaces the permissions granted to clientID. As in Entra,
// tokens already issued keep the roles they carry until they expire.
func (s *Server) SetAppRoles(clientID string, appRoles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[clientID]; a != nil {
		a.roles = slices.Clone(appRoles)
	}
}

// tokenError writes the identity platform's error body.
func (rc *reqCtx) tokenError(status int, code string, aadsts int, msg string) {
	now := rc.s.now()
	ts := now.Format("2006-01-02 15:04:05Z")
	rc.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	rc.w.Header().Set("Cache-Control", "no-store, no-cache")
	rc.w.Header().Set("x-ms-request-id", rc.reqID)
	rc.jsonPlain(status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, msg, rc.reqID, rc.clientReqID, ts),
		"error_codes":    []int{aadsts},
		"timestamp":      ts,
		"trace_id":       rc.reqID,
		"correlation_id": rc.clientReqID,
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

// handleToken serves POST /{tenant}/oauth2/v2.0/token for the client
// credentials grant.
func (s *Server) handleToken(rc *reqCtx) {
	f, ok := rc.tokenForm()
	if !ok {
		return
	}
	clientID := f.Get("client_id")
	assertion := f.Get("client_assertion")
	if clientID == "" && assertion != "" {
		if jwt, err := parseJWT(assertion); err == nil {
			clientID, _ = jwt.claims["sub"].(string)
		}
	}
	if clientID == "" {
		rc.tokenError(http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")
		return
	}
	s.mu.Lock()
	a := s.apps[clientID]
	s.mu.Unlock()
	if a == nil {
		rc.tokenError(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
			clientID, s.domain))
		return
	}
	acr := "1"
	switch {
	case assertion != "":
		if !rc.checkAssertion(a, f.Get("client_assertion_type"), assertion) {
			return
		}
		acr = "2"
	case f.Has("client_secret"):
		if a.secret == "" || subtle.ConstantTimeCompare([]byte(a.secret), []byte(f.Get("client_secret"))) != 1 {
			rc.tokenError(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	default:
		rc.tokenError(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	rc.issue(a, acr)
}

// tokenForm checks the method, tenant, content type, grant type and scope
// of a token request and returns its form.
func (rc *reqCtx) tokenForm() (url.Values, bool) {
	s, r := rc.s, rc.r
	if r.Method != http.MethodPost {
		rc.tokenError(http.StatusMethodNotAllowed, "invalid_request", 900561,
			fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method))
		return nil, false
	}
	tenant := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	if !strings.EqualFold(tenant, s.tenant) && !strings.EqualFold(tenant, s.domain) {
		rc.tokenError(http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return nil, false
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || r.ParseForm() != nil {
		rc.tokenError(http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return nil, false
	}
	f := r.PostForm
	for _, p := range []string{"grant_type", "scope"} {
		if f.Get(p) == "" {
			rc.tokenError(http.StatusBadRequest, "invalid_request", 900144,
				fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
			return nil, false
		}
	}
	if g := f.Get("grant_type"); g != "client_credentials" {
		rc.tokenError(http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", g))
		return nil, false
	}
	return f, rc.checkScope(f.Get("scope"))
}

// checkScope accepts only the Graph resource's /.default scope, the one
// scope the client credentials grant allows. The fake's own URL names the
// Graph resource too: the fake serves Graph there, as a national cloud's
// Graph is its own resource at its own address.
func (rc *reqCtx) checkScope(scope string) bool {
	for _, sc := range strings.Fields(scope) {
		res, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			rc.tokenError(http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc))
			return false
		}
		if res != "https://graph.microsoft.com" && res != GraphAppID && res != rc.s.URL() {
			rc.tokenError(http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
				"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", res, rc.s.domain))
			return false
		}
	}
	return true
}

// checkAssertion validates a certificate credential: an RS256 (or PS256)
// JWT whose header names a registered certificate by x5t (SHA-1) or
// x5t#S256, with aud = the token endpoint, iss = sub = client id, and nbf/exp
// around now (5 minutes of skew).
func (rc *reqCtx) checkAssertion(a *app, typ, assertion string) bool {
	bad := func(status int, code string, n int, msg string) bool {
		rc.tokenError(status, code, n, msg)
		return false
	}
	if typ != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return bad(http.StatusBadRequest, "invalid_request", 50027, fmt.Sprintf(
			"The client_assertion_type '%s' is not supported; use urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", typ))
	}
	jwt, err := parseJWT(assertion)
	if err != nil {
		return bad(http.StatusUnauthorized, "invalid_client", 50027, "JWT token is invalid or malformed.")
	}
	cert, thumb := findCert(a, jwt.header)
	if cert == nil {
		return bad(http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf(
			"The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", thumb, a.clientID))
	}
	now := rc.s.now()
	if now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return bad(http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf(
			"Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '%s']", thumb))
	}
	if err := jwt.verify(cert.PublicKey); err != nil {
		return bad(http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf(
			"Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']",
			thumb, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	iss, _ := jwt.claims["iss"].(string)
	sub, _ := jwt.claims["sub"].(string)
	if iss != a.clientID || sub != a.clientID {
		return bad(http.StatusUnauthorized, "invalid_client", 700021,
			"Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
	}
	if !rc.s.validAudience(jwt.claims["aud"]) {
		return bad(http.StatusUnauthorized, "invalid_client", 50013, fmt.Sprintf(
			"Assertion audience claim does not match the required value. The audience in the assertion was '%v' and the expected audience is '%s'.", jwt.claims["aud"], rc.s.TokenURL()))
	}
	if _, ok := jwt.claims["jti"].(string); !ok {
		return bad(http.StatusUnauthorized, "invalid_client", 50027, "JWT token is invalid or malformed. The 'jti' claim is missing.")
	}
	exp, okExp := numericClaim(jwt.claims["exp"])
	nbf, okNbf := numericClaim(jwt.claims["nbf"])
	const skew = 5 * time.Minute
	if !okExp || now.After(exp.Add(skew)) || (okNbf && now.Add(skew).Before(nbf)) {
		return bad(http.StatusUnauthorized, "invalid_client", 700024, fmt.Sprintf(
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			now.Format("2006-01-02T15:04:05.0000000Z"), nbf.UTC().Format("2006-01-02T15:04:05.0000000Z"), exp.UTC().Format("2006-01-02T15:04:05.0000000Z")))
	}
	return true
}

// validAudience accepts the tenant's v2.0 and v1 token endpoints, by tenant
// id or domain. aud may be a string or an array holding one.
func (s *Server) validAudience(aud any) bool {
	var auds []string
	switch v := aud.(type) {
	case string:
		auds = []string{v}
	case []any:
		for _, x := range v {
			if str, ok := x.(string); ok {
				auds = append(auds, str)
			}
		}
	}
	for _, a := range auds {
		for _, t := range []string{s.tenant, s.domain} {
			for _, p := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if strings.EqualFold(strings.TrimSuffix(a, "/"), s.http.URL+"/"+t+p) {
					return true
				}
			}
		}
	}
	return false
}

// findCert returns the registered certificate named by x5t#S256 or x5t and
// the thumbprint the client sent, in hex as AAD reports it. Thumbprints are
// compared after base64 decoding, whichever alphabet and padding the client
// used (MSAL Go sends standard base64 with padding, the reference says
// base64url).
func findCert(a *app, header map[string]any) (*x509.Certificate, string) {
	for _, h := range []string{"x5t#S256", "x5t"} {
		v, _ := header[h].(string)
		if v == "" {
			continue
		}
		sent, err := decodeB64(v)
		if err != nil {
			return nil, v
		}
		for _, c := range a.certs {
			var sum []byte
			if h == "x5t" {
				s := sha1.Sum(c.Raw) //nolint:gosec // see import.
				sum = s[:]
			} else {
				s := sha256.Sum256(c.Raw)
				sum = s[:]
			}
			if subtle.ConstantTimeCompare(sum, sent) == 1 {
				return c, strings.ToUpper(hex.EncodeToString(sent))
			}
		}
		return nil, strings.ToUpper(hex.EncodeToString(sent))
	}
	return nil, ""
}
