package chaos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is how the receiver answers deliveries.
type Mode int

// The receiver's modes.
const (
	// Healthy applies each delivery and answers 204.
	Healthy Mode = iota
	// Hang holds each delivery until the sender gives up, and applies nothing.
	Hang
	// Fail answers 503 and applies nothing.
	Fail
)

// maxHang bounds how long a hanging delivery is held when the sender does
// not give up first.
const maxHang = 2 * time.Minute

// event is a delivery as docs/connectors/webhook.md describes it; the
// receiver reads it the way a receiver written from the docs would.
type event struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Type        string `json:"type"`
	Data        struct {
		Grant    string `json:"grant"`
		GrantUID string `json:"grantUID"`
		Account  string `json:"account"`
		State    string `json:"state"`
	} `json:"data"`
}

// stateOfType is the documented state of each event type.
var stateOfType = map[string]string{
	"dev.portcullis.grant.activated":   "Active",
	"dev.portcullis.grant.quarantined": "Quarantined",
	"dev.portcullis.grant.revoked":     "Revoked",
	"dev.portcullis.grant.expired":     "Expired",
	"dev.portcullis.grant.removed":     "",
}

// ack is a delivery the receiver applied and answered 2xx.
type ack struct {
	id, state string
}

// ReceiverStats count the deliveries of the grants of one namespace.
type ReceiverStats struct {
	// Deliveries is every signed POST; Applied those answered 2xx the
	// first time their id was seen.
	Deliveries, Applied int
	// Redeliveries are deliveries of an id already applied: answered 2xx,
	// applied again by nobody. Harmless; counted for information.
	Redeliveries int
	// Duplicates are transitions applied twice: a new id carrying the same
	// state as the grant's last applied delivery, with no other state
	// applied in between.
	Duplicates int
	// Bad lists deliveries that failed the signature check or were not
	// well-formed CloudEvents.
	Bad []string
}

// Receiver is a scripted webhook receiver that checks every signature and
// records every delivery.
type Receiver struct {
	// URL is where the receiver listens.
	URL string

	key []byte
	srv *httptest.Server

	mu    sync.Mutex
	mode  Mode
	acked map[string][]ack // by grant UID, in order
	seen  map[string]bool  // ids applied
	stats map[string]*ReceiverStats
}

// StartReceiver starts a receiver that checks signatures with key.
func StartReceiver(key []byte) *Receiver {
	r := &Receiver{key: key, acked: map[string][]ack{}, seen: map[string]bool{}, stats: map[string]*ReceiverStats{}}
	r.srv = httptest.NewServer(r)
	r.URL = r.srv.URL
	return r
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// SetMode changes how later deliveries are answered.
func (r *Receiver) SetMode(m Mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mode := r.currentMode()
	if req.Method == http.MethodHead {
		if mode == Fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev, problem := r.check(req, body)
	if problem != "" {
		r.record(ev, func(s *ReceiverStats) { s.Bad = append(s.Bad, problem) })
		http.Error(w, problem, http.StatusUnauthorized)
		return
	}
	switch mode {
	case Fail:
		r.record(ev, nil)
		w.WriteHeader(http.StatusServiceUnavailable)
	case Hang:
		r.record(ev, nil)
		select {
		case <-req.Context().Done():
		case <-time.After(maxHang):
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		r.apply(ev)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *Receiver) currentMode() Mode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode
}

// check verifies the signature as docs/connectors/webhook.md tells
// receivers to, and that the body is a well-formed event.
func (r *Receiver) check(req *http.Request, body []byte) (event, string) {
	ev := event{}
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, "not JSON: " + err.Error()
	}
	ts := req.Header.Get("Portcullis-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(secs, 0)).Abs() > 5*time.Minute {
		return ev, "stale or missing timestamp " + strconv.Quote(ts)
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(req.Header.Get("Portcullis-Signature"))) {
		return ev, "bad signature on " + ev.ID
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		return ev, "content type " + ct
	}
	state, known := stateOfType[ev.Type]
	switch {
	case ev.SpecVersion != "1.0" || ev.ID == "" || ev.Data.GrantUID == "":
		return ev, "not a CloudEvent with an id and a grant: " + string(body)
	case !known || state != ev.Data.State:
		return ev, fmt.Sprintf("type %s does not match state %q", ev.Type, ev.Data.State)
	}
	return ev, ""
}

// apply applies a verified delivery, like an idempotent receiver: an id
// seen before is answered and not applied again.
func (r *Receiver) apply(ev event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.statsFor(ev)
	s.Deliveries++
	if r.seen[ev.ID] {
		s.Redeliveries++
		return
	}
	r.seen[ev.ID] = true
	history := r.acked[ev.Data.GrantUID]
	if n := len(history); n > 0 && history[n-1].state == ev.Data.State {
		s.Duplicates++
	}
	r.acked[ev.Data.GrantUID] = append(history, ack{id: ev.ID, state: ev.Data.State})
	s.Applied++
}

func (r *Receiver) record(ev event, fn func(*ReceiverStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.statsFor(ev)
	s.Deliveries++
	if fn != nil {
		fn(s)
	}
}

// statsFor returns the stats of the event's grant namespace; the caller
// holds the lock.
func (r *Receiver) statsFor(ev event) *ReceiverStats {
	ns, _, _ := strings.Cut(ev.Data.Grant, "/")
	s := r.stats[ns]
	if s == nil {
		s = &ReceiverStats{}
		r.stats[ns] = s
	}
	return s
}

// Stats returns the counts for the grants of namespace ns.
func (r *Receiver) Stats(ns string) ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats[ns]
	if s == nil {
		return ReceiverStats{}
	}
	out := *s
	out.Bad = append([]string(nil), s.Bad...)
	return out
}

// Applied returns the states applied for a grant, oldest first.
func (r *Receiver) Applied(grantUID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var states []string
	for _, a := range r.acked[grantUID] {
		states = append(states, a.state)
	}
	return states
}

// Last returns the state last applied for a grant, and false when none was.
func (r *Receiver) Last(grantUID string) (string, bool) {
	states := r.Applied(grantUID)
	if len(states) == 0 {
		return "", false
	}
	return states[len(states)-1], true
}
