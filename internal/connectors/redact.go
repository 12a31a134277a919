package connectors

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// redacted replaces a secret in text.
const redacted = "xxxxx"

// RedactURL returns raw without its user info (dropped whole: a user name
// can be a token too) and with its query values replaced, for errors,
// events and status. A string that does not parse as a URL loses
// everything between "://" and the last "@" before the path, and its query.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	if u.User == nil && u.RawQuery == "" {
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{redacted}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func redactUnparsed(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority := rest
	if i := strings.Index(rest, "/"); i >= 0 {
		authority = rest[:i]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		return raw[:len(raw)-len(rest)] + rest[at+1:]
	}
	return raw
}

// RedactURLError rewrites with RedactURL the URL of the *url.Error in
// err, which net/http returns with the request's whole URL, and in the
// message of any error that wraps it.
func RedactURLError(err error) error {
	uerr, ok := errors.AsType[*url.Error](err)
	if !ok {
		return err
	}
	raw, clean := uerr.URL, RedactURL(uerr.URL)
	if raw == clean {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), strconv.Quote(raw), strconv.Quote(clean))
	msg = strings.ReplaceAll(msg, raw, clean)
	uerr.URL = clean
	return &redactedError{msg: msg, err: err}
}

// RedactSecrets returns err with every occurrence of each non-empty secret
// in its message replaced, for errors whose text comes from a library or a
// server and might echo a password, a token or a connection string. The
// result still wraps err, for errors.Is and errors.As.
func RedactSecrets(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	// Longest first, so that a secret containing another is replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
