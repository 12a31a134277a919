package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// SignInLog is implemented by the connectors of systems that keep a
// sign-in log (the identity providers). A SignInSource polls it.
type SignInLog interface {
	// ReadSignIns returns the records of the system's log published in
	// [q.From, q.To), every page of them, in any order. The records are the
	// provider's own JSON objects, as the idplogs package reads them. More
	// than q.Max records is ErrTooManyRecords, returned before reading
	// further, so that the caller can ask for a shorter window. Errors wrap
	// ErrCredentials, ErrUnreachable or ErrTLS as Check's do, and tell a
	// missing permission (scope, role) by name.
	ReadSignIns(ctx context.Context, q LogQuery) ([]json.RawMessage, error)
}

// LogQuery is one read of a sign-in log.
type LogQuery struct {
	// System is the identity provider's ConnectedSystem: its org, tenant
	// or account settings.
	System *accessv1alpha1.ConnectedSystem
	// Credentials are the data of the credentials Secret to read the log
	// with. They never appear in logs, status or events.
	Credentials map[string][]byte
	// From and To bound the records' publication times: From inclusive,
	// To exclusive.
	From, To time.Time
	// Max is the most records the read may return.
	Max int
}

// ErrTooManyRecords is returned by ReadSignIns when the window holds more
// than LogQuery.Max records.
var ErrTooManyRecords = errors.New("the window holds more records than the limit")
