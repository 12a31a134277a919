package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// untilExpiry is how long until an optional expiry, or zero for none. A
// reconciler requeues after it to act on the expiry; an expiry already past
// still gives a small positive delay, because zero would mean no requeue.
func untilExpiry(expiresAt *metav1.Time, now time.Time) time.Duration {
	if expiresAt == nil {
		return 0
	}
	if d := expiresAt.Sub(now); d > 0 {
		return d
	}
	return time.Millisecond
}
