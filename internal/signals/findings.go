package signals

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

const (
	// Source is the spec.source of the Findings the ingester writes.
	Source = "portcullis-ingester"
	// LabelSource marks the ingester's Findings, so they can be counted
	// and selected: access.portcullis.dev/source=ingester.
	LabelSource = "access.portcullis.dev/source"
	// SourceValue is the value of LabelSource on the ingester's Findings.
	SourceValue = "ingester"
	// OverflowKey is the key of the one Finding per contractor and type
	// that takes the signals beyond the cap.
	OverflowKey = "overflow"
)

// FindingName is the deterministic name of the ingester's Finding for a
// contractor, type and key: "<contractor>-<type>-<10 hex digits of the
// key's hash>", with the contractor's name shortened so the whole stays a
// valid object name. Repeats of a signal land on the same object.
func FindingName(contractor string, typ accessv1alpha1.FindingType, key string) string {
	sum := sha256.Sum256([]byte(string(typ) + "\x00" + key))
	suffix := "-" + string(typ) + "-" + hex.EncodeToString(sum[:5])
	if key == OverflowKey {
		suffix = "-" + string(typ) + "-" + OverflowKey
	}
	const maxName = 253
	if len(contractor)+len(suffix) > maxName {
		contractor = contractor[:maxName-len(suffix)]
	}
	return contractor + suffix
}

// NewFinding returns the Finding for a signal first seen now, expiring ttl
// after now.
func NewFinding(namespace, contractor string, sig Signal, now time.Time, ttl time.Duration) *accessv1alpha1.Finding {
	first := sig.FirstSeen
	if first.IsZero() {
		first = sig.SeenAt
	}
	count := max(sig.Count, 1)
	f := &accessv1alpha1.Finding{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      FindingName(contractor, sig.Type, sig.Key),
			Labels:    map[string]string{LabelSource: SourceValue},
		},
		Spec: accessv1alpha1.FindingSpec{
			ContractorRef:  accessv1alpha1.ContractorReference{Name: contractor},
			Type:           sig.Type,
			AnonymizerKind: sig.AnonymizerKind,
			Severity:       sig.Severity,
			Source:         sig.source(),
			Key:            truncate(sig.Key, 256),
			Summary:        truncate(sig.Summary, 1024),
			Evidence:       sig.Evidence,
			FirstSeen:      &metav1.Time{Time: first},
			LastSeen:       &metav1.Time{Time: sig.SeenAt},
			Count:          count,
		},
	}
	if ttl > 0 {
		f.Spec.ExpiresAt = &metav1.Time{Time: now.Add(ttl)}
	}
	return f
}

// MergeFinding folds a repeat of a signal into its existing Finding and
// reports whether anything changed. New sign-ins (a count and a time later
// than lastSeen) raise count and lastSeen, take the latest evidence and
// push the expiry to ttl after now; newly related contractors are added;
// the severity only ever rises. A signal already counted — the same batch
// sent again — changes nothing.
func MergeFinding(f *accessv1alpha1.Finding, sig Signal, now time.Time, ttl time.Duration) bool {
	changed := false
	spec := &f.Spec
	if sig.Count > 0 && (spec.LastSeen == nil || sig.SeenAt.Truncate(time.Second).After(spec.LastSeen.Time)) {
		spec.Count += sig.Count
		spec.LastSeen = &metav1.Time{Time: sig.SeenAt}
		related := spec.Evidence.RelatedContractors
		spec.Evidence = sig.Evidence
		spec.Evidence.RelatedContractors = related
		spec.Summary = truncate(sig.Summary, 1024)
		if sig.AnonymizerKind != "" {
			spec.AnonymizerKind = sig.AnonymizerKind
		}
		changed = true
	}
	for _, name := range sig.Evidence.RelatedContractors {
		if !slices.Contains(spec.Evidence.RelatedContractors, name) && len(spec.Evidence.RelatedContractors) < maxRelated {
			spec.Evidence.RelatedContractors = append(spec.Evidence.RelatedContractors, name)
			slices.Sort(spec.Evidence.RelatedContractors)
			if sig.Count == 0 {
				spec.Summary = truncate(sig.Summary, 1024)
			}
			changed = true
		}
	}
	if severityRank(sig.Severity) > severityRank(spec.Severity) {
		spec.Severity = sig.Severity
		changed = true
	}
	if changed && spec.ExpiresAt != nil && ttl > 0 && now.Add(ttl).After(spec.ExpiresAt.Time) {
		spec.ExpiresAt = &metav1.Time{Time: now.Add(ttl)}
	}
	return changed
}

// source is the spec.source of the signal's Finding.
func (s Signal) source() string {
	if s.Source == "" {
		return Source
	}
	return s.Source
}

// Overflow turns a signal beyond the per-contractor cap into a signal for
// the contractor's overflow Finding of its type.
func Overflow(sig Signal, limit int) Signal {
	sig.Summary = fmt.Sprintf("more %s findings than the cap of %d per contractor; the latest: %s", sig.Type, limit, sig.Summary)
	sig.Key = OverflowKey
	if sig.Type == accessv1alpha1.FindingAnonymizer {
		sig.Evidence.Details = mergeDetails(sig.Evidence.Details, "anonymizerKind", string(sig.AnonymizerKind))
	}
	return sig
}

func mergeDetails(d map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(d)+1)
	for dk, dv := range d {
		out[dk] = dv
	}
	out[k] = v
	return out
}

func severityRank(s accessv1alpha1.Severity) int {
	return slices.Index([]accessv1alpha1.Severity{accessv1alpha1.SeverityInfo, accessv1alpha1.SeverityLow,
		accessv1alpha1.SeverityMedium, accessv1alpha1.SeverityHigh, accessv1alpha1.SeverityCritical}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
