package signalsink

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// +kubebuilder:rbac:groups=access.portcullis.dev,resources=findings,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=access.portcullis.dev,resources=contractors;connectedsystems,verbs=get;list;watch

const (
	// LabelStream marks the Findings a SignalStream's SETs recorded, with
	// the stream's name (or, for a name that is no valid label value, a
	// hash of it: see StreamLabelValue).
	LabelStream = "access.portcullis.dev/signal-stream"
	// SourcePrefix starts the spec.source of those Findings: "ssf:<stream>".
	SourcePrefix = "ssf:"
)

// Sink records the events of verified SETs as Findings in the namespaces
// of the contractors their subjects name, one Finding per stream (and issuer),
// contractor and Finding type (so at most five per contractor and stream),
// whose count grows on repeats. See classify for the mapping.
//
// Receive is idempotent: a SET received again (same jti as the Finding's
// last) changes nothing, so a transmitter may retry a SET the sink
// returned an error for. It is safe for concurrent use: writes are
// create-or-update with optimistic concurrency, retried on conflicts.
type Sink struct {
	// Client is the manager's cached client: it reads Contractors (by the
	// kube.IndexIdentityFold index) and ConnectedSystems, and writes
	// Findings.
	Client client.Client
	// Reader reads Findings from the API server itself, so that a count
	// never grows from a stale copy.
	Reader client.Reader
	// Clock tells the time for expiries and for event times in the future.
	Clock clock.PassiveClock
	// FindingTTL is how long after it was last recorded a Finding that
	// expires (all but account-disabled) stops counting; 0: never.
	FindingTTL time.Duration
}

var _ interface {
	Receive(context.Context, Source, *ssf.SET) (Outcome, error)
} = (*Sink)(nil)

// Receive acts on each event of a verified SET that arrived on src. It
// returns an error only when the API server failed (the transmitter
// should deliver the SET again); a subject that names no contractor, or
// several, an event of a type that changes nothing, or a Finding the API
// server refuses as invalid are counted in the Outcome, not errors.
func (s *Sink) Receive(ctx context.Context, src Source, set *ssf.SET) (Outcome, error) {
	var out Outcome
	events, err := set.DecodeEvents()
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Ignoring a SET whose events do not decode", "stream", src.Name, "jti", clean(set.JTI, 64), "reason", err.Error())
		out.Ignored = len(set.Events)
		return out, nil
	}
	for _, ev := range events {
		if err := s.receive(ctx, src, set, ev, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// receive acts on one event and counts what it did.
func (s *Sink) receive(ctx context.Context, src Source, set *ssf.SET, ev ssf.Event, out *Outcome) error {
	a := classify(ev)
	if a.typ == "" {
		out.Ignored++
		return nil
	}
	if ev.Subject == nil {
		out.Unmatched++
		return nil
	}
	keys, err := s.resolve(ctx, src, ev.Subject)
	if err != nil {
		return err
	}
	switch {
	case len(keys) == 0:
		out.Unmatched++
		return nil
	case len(keys) > 1:
		out.Ambiguous++
		ctrl.LoggerFrom(ctx).Info("Ignoring an event whose subject names several contractors",
			"stream", src.Name, "eventType", a.what, "contractors", keys)
		return nil
	}
	now := s.Clock.Now()
	at := eventTime(a, set, now)
	name := FindingName(src.Name, src.Issuer, keys[0], a.typ)
	device := deviceOf(a, ev.Subject)
	if device != "" {
		name = DeviceFindingName(name, device)
	}
	if a.lift {
		err = s.lift(ctx, name, keys[0].Namespace, at)
	} else {
		f := s.newFinding(src, set, ev.Type, a, keys[0], at, now)
		f.Name = name
		f.Spec.Evidence.DeviceID = truncate(clean(device, maxDeviceID), maxDeviceID)
		err = s.record(ctx, f)
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) {
		// Permanent: a Finding the API server refuses, or a namespace
		// that is gone. Retrying the SET would not help.
		ctrl.LoggerFrom(ctx).Error(err, "Dropping an event the API server refuses", "stream", src.Name, "contractor", keys[0])
		out.Ignored++
		return nil
	}
	if err != nil {
		return fmt.Errorf("recording %s for %s: %w", a.what, keys[0], err)
	}
	out.Recorded++
	return nil
}

// FindingName is the name of the Finding of a stream, its issuer, a
// contractor and a type: "ssf-" and 16 hex digits of their hash. The
// issuer is part of it so that a stream whose issuer changed (or a new
// stream under a deleted one's name) cannot lift what another issuer
// reported.
func FindingName(stream, issuer string, contractor types.NamespacedName, typ accessv1alpha1.FindingType) string {
	sum := sha256.Sum256([]byte(stream + "\x00" + issuer + "\x00" + contractor.Namespace + "/" + contractor.Name + "\x00" + string(typ)))
	return "ssf-" + hex.EncodeToString(sum[:8])
}

// DeviceFindingName is the name of a device's Finding: a device's
// compliance is its own, so that a compliant report for one device does not
// lift another's non-compliance. name is the contractor's FindingName.
func DeviceFindingName(name, device string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + device))
	return "ssf-" + hex.EncodeToString(sum[:8])
}

// maxDeviceID bounds the device id kept in a Finding's evidence.
const maxDeviceID = 128

// deviceOf is the device a device-compliance event is about: the device
// member of a complex subject, as the transmitter identifies it; "" for a
// subject without one, whose compliance is the contractor's.
func deviceOf(a action, sub *ssf.SubjectID) string {
	if a.typ != accessv1alpha1.FindingDeviceNonCompliant || sub == nil || sub.Device == nil {
		return ""
	}
	for _, c := range sub.Device.Candidates() {
		return c.ID
	}
	d := sub.Device
	return cmp.Or(d.ID, d.URI, d.Email, d.Sub, d.PhoneNumber)
}

// StreamLabelValue is the LabelStream value of a stream: its name, or
// "h-" and 20 hex digits of its hash when the name is no valid label
// value (longer than 63 characters).
func StreamLabelValue(stream string) string {
	if len(validation.IsValidLabelValue(stream)) == 0 {
		return stream
	}
	sum := sha256.Sum256([]byte(stream))
	return "h-" + hex.EncodeToString(sum[:10])
}

// newFinding is the Finding one event records.
func (s *Sink) newFinding(src Source, set *ssf.SET, eventType string, a action, key types.NamespacedName,
	at, now time.Time) *accessv1alpha1.Finding {
	seen := &metav1.Time{Time: at}
	f := &accessv1alpha1.Finding{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace,
			Name:      FindingName(src.Name, src.Issuer, key, a.typ),
			Labels:    map[string]string{LabelStream: StreamLabelValue(src.Name)},
		},
		Spec: accessv1alpha1.FindingSpec{
			ContractorRef: accessv1alpha1.ContractorReference{Name: key.Name},
			Type:          a.typ,
			Severity:      a.severity,
			Source:        truncate(SourcePrefix+src.Name, 128),
			Key:           truncate(src.Name, 256),
			Summary:       summary(src.Name, a),
			Evidence:      accessv1alpha1.Evidence{Details: evidenceDetails(a, set, eventType)},
			FirstSeen:     seen,
			LastSeen:      seen,
			Count:         1,
		},
	}
	if a.expires && s.FindingTTL > 0 {
		f.Spec.ExpiresAt = &metav1.Time{Time: now.Add(s.FindingTTL)}
	}
	return f
}

// writeBackoff spaces the retries of a write that lost a race: enough
// for a burst of one contractor's SETs delivered at once; beyond it, the
// error goes back to the transmitter, which delivers the SET again.
var writeBackoff = wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// isRetryable reports the errors record and lift try again after a
// fresh read: a lost race with another writer.
func isRetryable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// record creates the Finding, or folds it into the one that exists.
func (s *Sink) record(ctx context.Context, desired *accessv1alpha1.Finding) error {
	return retry.OnError(writeBackoff, isRetryable, func() error {
		cur := &accessv1alpha1.Finding{}
		err := s.Reader.Get(ctx, client.ObjectKeyFromObject(desired), cur)
		if apierrors.IsNotFound(err) {
			return s.Client.Create(ctx, desired.DeepCopy())
		}
		if err != nil {
			return err
		}
		if !merge(cur, desired) {
			return nil
		}
		return s.Client.Update(ctx, cur)
	})
}

// merge folds a new observation into the Finding and reports whether it
// changed. The SET already recorded last (same jti) changes nothing. The
// count grows and the times widen; the facts (severity, summary,
// evidence) are the newest event's, so an event older than the last one
// seen only counts.
func merge(cur, desired *accessv1alpha1.Finding) bool {
	jti := desired.Spec.Evidence.Details[DetailJTI]
	if jti != "" && cur.Spec.Evidence.Details[DetailJTI] == jti {
		return false
	}
	if cur.Spec.LastSeen == nil || !desired.Spec.LastSeen.Before(cur.Spec.LastSeen) {
		cur.Spec.Severity = desired.Spec.Severity
		cur.Spec.Summary = desired.Spec.Summary
		cur.Spec.Evidence = desired.Spec.Evidence
		cur.Spec.LastSeen = desired.Spec.LastSeen
	} else {
		if cur.Spec.Evidence.Details == nil {
			cur.Spec.Evidence.Details = map[string]string{}
		}
		cur.Spec.Evidence.Details[DetailJTI] = jti
	}
	if cur.Spec.FirstSeen == nil || desired.Spec.FirstSeen.Before(cur.Spec.FirstSeen) {
		cur.Spec.FirstSeen = desired.Spec.FirstSeen
	}
	cur.Spec.Count = max(cur.Spec.Count, 1) + 1
	switch {
	case desired.Spec.ExpiresAt == nil:
		cur.Spec.ExpiresAt = nil
	case cur.Spec.ExpiresAt == nil || cur.Spec.ExpiresAt.Before(desired.Spec.ExpiresAt):
		cur.Spec.ExpiresAt = desired.Spec.ExpiresAt
	}
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	for k, v := range desired.Labels {
		cur.Labels[k] = v
	}
	return true
}

// lift deletes the Finding unless it was last seen after the event that
// lifts it: an enable delivered after a newer disable must not lift it.
func (s *Sink) lift(ctx context.Context, name, namespace string, at time.Time) error {
	return retry.OnError(writeBackoff, isRetryable, func() error {
		cur := &accessv1alpha1.Finding{}
		err := s.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cur)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Spec.LastSeen != nil && cur.Spec.LastSeen.After(at) {
			return nil
		}
		err = s.Client.Delete(ctx, cur, client.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}
