package ssftx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// Names, labels and data keys of the stream Secrets.
const (
	// StreamSecretPrefix starts the name of every stream Secret; the
	// stream id follows.
	StreamSecretPrefix = "portcullis-ssf-stream-"
	// LabelManagedBy and ManagedByValue mark the stream Secrets.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "portcullis"
	// LabelReceiver names the receiver that owns the stream.
	LabelReceiver = "ssf.portcullis.dev/receiver"

	dataConfig    = "config"
	dataStatus    = "status"
	dataSubjects  = "subjects"
	dataOutbox    = "outbox"
	dataDelivered = "delivered"
)

// errStreamNotFound: no stream with that id belongs to the receiver.
var errStreamNotFound = errors.New("no such stream")

// ErrOutboxFull is wrapped by Announce's error when a stream's outbox holds
// Limits.MaxOutbox events: nothing was added to that stream; call again
// once the receiver has taken some.
var ErrOutboxFull = errors.New("the stream's outbox is full")

// stream is the durable state of one stream: one Secret.
type stream struct {
	Receiver  string
	Config    ssf.StreamConfig
	Status    streamState
	Subjects  []ssf.SubjectID
	Outbox    []entry
	Delivered []string

	secret *corev1.Secret // as read, for its resourceVersion
}

// streamState is the status data key: the SSF status and what delivery saw.
type streamState struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Refused counts SETs the receiver refused with an RFC 8935 error.
	Refused int `json:"refused,omitempty"`
	// LastErrorCode is the error code of the last refusal.
	LastErrorCode string `json:"lastErrorCode,omitempty"`
	// LastFailure says why the last push failed (no secrets), cleared by a
	// success.
	LastFailure string `json:"lastFailure,omitempty"`
	// OutboxFull is set while Announce could not add events.
	OutboxFull bool `json:"outboxFull,omitempty"`
}

// entry is one pending event: signed only when delivered.
type entry struct {
	JTI     string          `json:"jti"`
	Type    string          `json:"type"`
	Subject ssf.SubjectID   `json:"subject"`
	Body    json.RawMessage `json:"body"`
	Txn     string          `json:"txn,omitempty"`
	Queued  time.Time       `json:"queued"`
}

func secretName(id string) string { return StreamSecretPrefix + id }

// encode writes st into its Secret (a new one when st.secret is nil).
func (st *stream) encode(namespace string) (*corev1.Secret, error) {
	s := st.secret
	if s == nil {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName(st.Config.StreamID), Namespace: namespace}}
	} else {
		s = s.DeepCopy()
	}
	s.Labels = map[string]string{LabelManagedBy: ManagedByValue, LabelReceiver: st.Receiver}
	s.Type = corev1.SecretTypeOpaque
	s.Data = map[string][]byte{}
	for key, v := range map[string]any{dataConfig: st.Config, dataStatus: st.Status, dataSubjects: nonNil(st.Subjects),
		dataOutbox: nonNil(st.Outbox), dataDelivered: nonNil(st.Delivered)} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encoding the stream's %s: %w", key, err)
		}
		s.Data[key] = b
	}
	return s, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decodeStream reads a stream Secret.
func decodeStream(s *corev1.Secret) (*stream, error) {
	st := &stream{Receiver: s.Labels[LabelReceiver], secret: s}
	for key, v := range map[string]any{dataConfig: &st.Config, dataStatus: &st.Status, dataSubjects: &st.Subjects,
		dataOutbox: &st.Outbox, dataDelivered: &st.Delivered} {
		if err := json.Unmarshal(s.Data[key], v); err != nil {
			return nil, fmt.Errorf("stream Secret %s: data key %q: %w", s.Name, key, err)
		}
	}
	if st.Receiver == "" || st.Config.StreamID == "" || s.Name != secretName(st.Config.StreamID) {
		return nil, fmt.Errorf("stream Secret %s: no receiver label or a stream id that does not match its name", s.Name)
	}
	return st, nil
}

// store keeps the streams in Secrets of one namespace.
type store struct {
	client    client.Client
	reader    client.Reader
	namespace string
}

// get reads a stream; errStreamNotFound when it is missing or, with a
// non-empty receiver, belongs to another receiver.
func (s *store) get(ctx context.Context, receiver, id string) (*stream, error) {
	if !validStreamID(id) {
		return nil, errStreamNotFound
	}
	var secret corev1.Secret
	err := s.reader.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: secretName(id)}, &secret)
	if apierrors.IsNotFound(err) {
		return nil, errStreamNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", id, err)
	}
	st, err := decodeStream(&secret)
	if err != nil {
		return nil, err
	}
	if receiver != "" && st.Receiver != receiver {
		return nil, errStreamNotFound
	}
	return st, nil
}

// list reads every stream, or a receiver's when receiver is not empty.
// A Secret that cannot be decoded is skipped and reported in bad.
func (s *store) list(ctx context.Context, receiver string) (streams []*stream, bad []error, err error) {
	labels := client.MatchingLabels{LabelManagedBy: ManagedByValue}
	if receiver != "" {
		labels[LabelReceiver] = receiver
	}
	var secrets corev1.SecretList
	if err := s.reader.List(ctx, &secrets, client.InNamespace(s.namespace), labels); err != nil {
		return nil, nil, fmt.Errorf("listing stream Secrets: %w", err)
	}
	for i := range secrets.Items {
		if !strings.HasPrefix(secrets.Items[i].Name, StreamSecretPrefix) {
			continue
		}
		st, err := decodeStream(&secrets.Items[i])
		if err != nil {
			bad = append(bad, err)
			continue
		}
		streams = append(streams, st)
	}
	return streams, bad, nil
}

func (s *store) create(ctx context.Context, st *stream) error {
	secret, err := st.encode(s.namespace)
	if err != nil {
		return err
	}
	if err := s.client.Create(ctx, secret); err != nil {
		return fmt.Errorf("creating stream %s: %w", st.Config.StreamID, err)
	}
	st.secret = secret
	return nil
}

func (s *store) delete(ctx context.Context, st *stream) error {
	err := s.client.Delete(ctx, st.secret, client.Preconditions{UID: &st.secret.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting stream %s: %w", st.Config.StreamID, err)
	}
	return nil
}

// update reads the stream, applies change and writes it, again on a
// conflict. change returns false to write nothing. A change error is
// returned as is (after a write when write is true).
func (s *store) update(ctx context.Context, receiver, id string, change func(*stream) (write bool, err error)) (*stream, error) {
	var result *stream
	var changeErr error
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		st, err := s.get(ctx, receiver, id)
		if err != nil {
			return err
		}
		write, cerr := change(st)
		changeErr, result = cerr, st
		if !write {
			return nil
		}
		secret, err := st.encode(s.namespace)
		if err != nil {
			return err
		}
		if err := s.client.Update(ctx, secret); err != nil {
			return err
		}
		st.secret = secret
		return nil
	})
	if err != nil {
		if errors.Is(err, errStreamNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("writing stream %s: %w", id, err)
	}
	return result, changeErr
}

// validStreamID: the ids this transmitter makes are 32 lowercase hex
// characters; anything else names no stream.
func validStreamID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
