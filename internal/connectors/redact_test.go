package connectors

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://idp.example.com/scim/v2":                "https://idp.example.com/scim/v2",
		"https://admin:s3cret@idp.example.com/scim/v2":   "https://idp.example.com/scim/v2",
		"https://s3cret@idp.example.com/scim/v2":         "https://idp.example.com/scim/v2",
		"https://hooks.example.com/e?code=s3cret&x=1":    "https://hooks.example.com/e?code=xxxxx&x=xxxxx",
		"ldaps://cn=admin:s3cret@ldap.example.com:636":   "ldaps://ldap.example.com:636",
		"https://admin:s3cret@idp.example.com/%zz":       "https://idp.example.com/%zz",
		"https://a:s3cret@b@idp.example.com/x?code=s3cr": "https://idp.example.com/x?code=xxxxx",
		"not a url at all":                               "not a url at all",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedactErrors(t *testing.T) {
	inner := fmt.Errorf("%w: server said: bad password s3cret-pw for dsn host=h password=s3cret-pw", ErrCredentials)
	err := RedactSecrets(inner, "", "s3cret-pw", "host=h password=s3cret-pw")
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, ErrCredentials) {
		t.Fatalf("RedactSecrets = %v", err)
	}
	if RedactSecrets(nil, "x") != nil {
		t.Fatal("RedactSecrets(nil) is not nil")
	}
	uerr := &url.Error{Op: "Get", URL: "https://u:s3cret@h/x?token=s3cret", Err: errors.New("refused")}
	if got := RedactURLError(fmt.Errorf("requesting: %w", uerr)).Error(); strings.Contains(got, "s3cret") {
		t.Fatalf("RedactURLError = %s", got)
	}
}

func TestCheckHTTPURL(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		insecure bool
		want     error
	}{
		{"https://idp.example.com/scim/v2", false, nil},
		{"http://idp.example.com/scim/v2", true, nil},
		{"http://idp.example.com/scim/v2", false, ErrInsecure},
		{"HTTP://idp.example.com/scim/v2", false, ErrInsecure},
		{"https://u:p@idp.example.com/scim/v2", false, ErrCredentialsInURL},
		{"https://u@idp.example.com/scim/v2", true, ErrCredentialsInURL},
	} {
		_, err := CheckHTTPURL("spec.scim.url", tc.raw, tc.insecure, "the bearer token")
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckHTTPURL(%q, insecure=%t) = %v, want %v", tc.raw, tc.insecure, err, tc.want)
		}
	}
	for _, raw := range []string{"ftp://h/x", "https:///x", "https://u:s3cret@h/%zz", "idp.example.com/scim"} {
		_, err := CheckHTTPURL("spec.scim.url", raw, true, "the bearer token")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckHTTPURL(%q) = %v", raw, err)
		}
	}
	_, err := CheckHTTPURL("spec.scim.url", "http://h/x", false, "the bearer token")
	if msg := err.Error(); !strings.Contains(msg, "spec.insecure: true") || !strings.Contains(msg, "https://") {
		t.Errorf("the refusal does not say what to change: %s", msg)
	}
}
