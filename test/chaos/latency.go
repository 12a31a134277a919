package chaos

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	k8sconnector "github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
)

// BindingWatch records when each managed RoleBinding was first seen bound
// to a role: when a quarantine reached the kubernetes system.
type BindingWatch struct {
	role string

	mu    sync.Mutex
	first map[string]time.Time // grant "namespace/name"
}

// WatchBindings watches the managed bindings of the apps namespace until
// ctx ends, noting when each one is first seen bound to role.
func WatchBindings(ctx context.Context, cs kubernetes.Interface, role string) (*BindingWatch, error) {
	bw := &BindingWatch{role: role, first: map[string]time.Time{}}
	sel := k8sconnector.LabelManagedBy + "=" + k8sconnector.ManagedByValue
	list, err := cs.RbacV1().RoleBindings(AppsNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing bindings: %w", err)
	}
	for i := range list.Items {
		bw.see(&list.Items[i], time.Now())
	}
	go bw.run(ctx, cs, sel, list.ResourceVersion)
	return bw, nil
}

// run watches from rv, and watches again from the last version seen when
// the server ends the watch.
func (bw *BindingWatch) run(ctx context.Context, cs kubernetes.Interface, sel, rv string) {
	for ctx.Err() == nil {
		w, err := cs.RbacV1().RoleBindings(AppsNamespace).Watch(ctx, metav1.ListOptions{LabelSelector: sel,
			ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			rb, ok := ev.Object.(*rbacv1.RoleBinding)
			if !ok {
				continue
			}
			rv = rb.ResourceVersion
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				bw.see(rb, time.Now())
			}
		}
		w.Stop()
	}
}

func (bw *BindingWatch) see(rb *rbacv1.RoleBinding, at time.Time) {
	if rb.RoleRef.Name != bw.role {
		return
	}
	key := rb.Labels[k8sconnector.LabelGrantNamespace] + "/" + rb.Labels[k8sconnector.LabelGrantName]
	bw.mu.Lock()
	defer bw.mu.Unlock()
	if _, ok := bw.first[key]; !ok {
		bw.first[key] = at
	}
}

// Seen returns when the grant's binding was first bound to the role.
func (bw *BindingWatch) Seen(grant string) (time.Time, bool) {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	at, ok := bw.first[grant]
	return at, ok
}

// Latencies is a set of finding-to-change latencies.
type Latencies struct {
	Samples []time.Duration
	// Missing counts changes never seen within the timeout.
	Missing int
}

// P99 is the 99th percentile (nearest rank); with fewer than 100 samples
// it is the largest.
func (l Latencies) P99() time.Duration { return l.percentile(99) }

// Max is the largest sample.
func (l Latencies) Max() time.Duration { return l.percentile(100) }

func (l Latencies) percentile(p int) time.Duration {
	if len(l.Samples) == 0 {
		return 0
	}
	sorted := slices.Clone(l.Samples)
	slices.Sort(sorted)
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (l Latencies) String() string {
	if len(l.Samples) == 0 {
		return "no samples"
	}
	s := fmt.Sprintf("p99 %s, max %s (n=%d)", round(l.P99()), round(l.Max()), len(l.Samples))
	if l.Missing > 0 {
		s += fmt.Sprintf(", %d never changed", l.Missing)
	}
	return s
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// MeasureQuarantines creates a quarantining finding for each contractor,
// one every pace, and times each from just before its creation until its
// kubernetes binding is seen bound to the quarantine role. A change not
// seen within timeout counts as missing, with the timeout as its sample.
func (w *World) MeasureQuarantines(ctx context.Context, bw *BindingWatch, cs []Contractor, tag string, pace, timeout time.Duration) (Latencies, error) {
	starts := make([]time.Time, len(cs))
	for i, c := range cs {
		if i > 0 {
			select {
			case <-ctx.Done():
				return Latencies{}, ctx.Err()
			case <-time.After(time.Until(starts[i-1].Add(pace))):
			}
		}
		starts[i] = time.Now()
		if err := w.AddFinding(ctx, c, Quarantines, tag); err != nil {
			return Latencies{}, err
		}
	}
	out := Latencies{}
	for i, c := range cs {
		key := c.Grant(Kubernetes).String()
		for {
			if at, ok := bw.Seen(key); ok {
				out.Samples = append(out.Samples, at.Sub(starts[i]))
				break
			}
			if time.Since(starts[i]) > timeout || ctx.Err() != nil {
				out.Samples = append(out.Samples, timeout)
				out.Missing++
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out, nil
}
