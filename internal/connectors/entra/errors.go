package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// The application permissions each call needs, least privileged first, for
// the errors of a 403.
const (
	permReadGroups   = "GroupMember.Read.All (GroupMember.ReadWrite.All includes it)"
	permWriteMembers = "GroupMember.ReadWrite.All"
	permReadUsers    = "User.Read.All"
	permEnable       = "User.EnableDisableAccount.All together with User.Read.All (an account that holds a privileged " +
		"Entra ID admin role can be disabled only by an app that holds a higher privileged role too, e.g. Privileged Authentication Administrator)"
	permRevoke = "User.RevokeSessions.All"
)

// apiError is a Graph answer that is not 2xx.
type apiError struct {
	method, path  string
	status        int
	code, message string
}

// newAPIError reads Graph's error body; secrets are redacted from its
// message before it is shortened, which could cut one.
func newAPIError(method, target string, resp *response, secrets []string) *apiError {
	e := &apiError{method: method, path: pathOf(target), status: resp.status}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(resp.body, &body) == nil && body.Error.Code != "" {
		e.code, e.message = body.Error.Code, body.Error.Message
	} else {
		e.message = string(resp.body)
	}
	e.message = truncate(redact(e.message, secrets), 300)
	return e
}

func (e *apiError) Error() string {
	what := strings.TrimSpace(fmt.Sprintf("%d %s", e.status, e.code))
	if e.message != "" {
		what += ": " + e.message
	}
	return fmt.Sprintf("%s %s: Microsoft Graph answered %s", e.method, e.path, what)
}

// classify wraps the connector sentinel that e stands for, if any.
func (e *apiError) classify(need string) error {
	switch {
	case e.status == http.StatusUnauthorized:
		return fmt.Errorf("%w: Microsoft Graph refused a new access token: %w", connectors.ErrCredentials, e)
	case e.status == http.StatusForbidden && e.code == "Authorization_RequestDenied":
		return fmt.Errorf("%w: the app registration lacks the Microsoft Graph application permission for this call: grant it %s, "+
			"with admin consent (the connector needs GroupMember.ReadWrite.All, User.Read.All, User.EnableDisableAccount.All and User.RevokeSessions.All): %w",
			connectors.ErrCredentials, need, e)
	case e.status == http.StatusForbidden:
		return fmt.Errorf("%w: %w", connectors.ErrCredentials, e)
	case e.status == http.StatusServiceUnavailable:
		return fmt.Errorf("%w: Microsoft Graph is unavailable: %w", connectors.ErrUnreachable, e)
	case e.status == http.StatusTooManyRequests:
		return fmt.Errorf("throttled by Microsoft Graph after %d retries; retrying later: %w", maxRetries, e)
	}
	return e
}

// credentialCodes are the AADSTS codes of credentials that the token
// endpoint refuses, with what to do.
var credentialCodes = map[int]string{
	7000215: "the clientSecret is wrong: use the secret's Value, not its Secret ID",
	7000222: "the client secret has expired: create a new one",
	700027:  "the certificate is not registered on the app registration, or has expired",
	700016:  "no app registration with this clientID in the tenant",
	700024:  "the client assertion is outside its validity: check the clock",
	700021:  "the client assertion does not name the clientID",
	7000218: "the Secret has neither a certificate nor a client secret",
	50027:   "the client assertion is malformed",
	50013:   "the client assertion names another audience",
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// tokenError explains a refused token request: the AADSTS code and what
// it means, without any part of the request.
func tokenError(resp *response, secrets []string) error {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	_ = json.Unmarshal(resp.body, &body)
	desc, _, _ := strings.Cut(redact(body.Description, secrets), " Trace ID:")
	code := 0
	if len(body.Codes) > 0 {
		code = body.Codes[0]
	} else if m := aadsts.FindStringSubmatch(desc); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	if code != 0 && !strings.Contains(desc, "AADSTS") {
		desc = strings.TrimSpace(fmt.Sprintf("AADSTS%d: %s", code, desc))
	}
	msg := strings.TrimSpace(fmt.Sprintf("the token endpoint answered %d %s: %s", resp.status, body.Error, truncate(desc, 400)))
	hint, refused := credentialCodes[code]
	switch {
	case resp.status == http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %s", connectors.ErrUnreachable, msg)
	case refused:
		return fmt.Errorf("%w: %s: %s", connectors.ErrCredentials, hint, msg)
	case resp.status == http.StatusUnauthorized || body.Error == "invalid_client" || body.Error == "unauthorized_client":
		return fmt.Errorf("%w: %s", connectors.ErrCredentials, msg)
	case code == 90002 || code == 900023:
		return fmt.Errorf("spec.entra.tenantID names no tenant at spec.entra.authorityHost: %s", msg)
	case code == 500011 || body.Error == "invalid_resource":
		return fmt.Errorf("the token endpoint does not know the resource of spec.entra.graphEndpoint (a national cloud needs both endpoints of that cloud): %s", msg)
	}
	return fmt.Errorf("%s", msg)
}

// redact replaces the secrets in s, with the shared helper.
func redact(s string, secrets []string) string {
	return connectors.RedactSecrets(errors.New(s), secrets...).Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
