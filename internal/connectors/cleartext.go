package connectors

import (
	"fmt"
	"net/url"
)

// ParseSystemURL parses the URL at field (e.g. "spec.scim.url") of a
// system, and refuses one that carries credentials or has no host. Its
// errors never repeat the URL's user info: url.Parse's own error, which
// quotes the whole string, is not passed on.
func ParseSystemURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s does not parse as a URL", field, RedactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s has user info (user:password@): remove it, and keep credentials in the credentials Secret only",
			ErrCredentialsInURL, field)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %s has no host", field, RedactURL(raw))
	}
	return u, nil
}

// CheckHTTPURL parses an http(s) URL of a system and refuses, before
// anything is sent, an http:// one unless insecure is set. exposed says
// what would cross the network in clear text, e.g. "the bearer token".
func CheckHTTPURL(field, raw string, insecure bool, exposed string) (*url.URL, error) {
	u, err := ParseSystemURL(field, raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if insecure {
			return u, nil
		}
		return nil, fmt.Errorf("%w: %s is http://, so %s would cross the network in clear text: use https://, or set spec.insecure: true to accept that",
			ErrInsecure, field, exposed)
	}
	return nil, fmt.Errorf("%s %s is neither https:// nor http://", field, RedactURL(raw))
}
