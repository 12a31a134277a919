package oktaserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// LogEvent is an Okta System Log event (the LogEvent schema). Nullable
// fields Okta sends as null are pointers.
type LogEvent struct {
	UUID                  string                   `json:"uuid"`
	Published             time.Time                `json:"published"`
	EventType             string                   `json:"eventType"`
	Version               string                   `json:"version"`
	Severity              string                   `json:"severity"`
	LegacyEventType       string                   `json:"legacyEventType,omitempty"`
	DisplayMessage        string                   `json:"displayMessage"`
	Actor                 LogActor                 `json:"actor"`
	Client                LogClient                `json:"client"`
	Outcome               LogOutcome               `json:"outcome"`
	Target                []LogActor               `json:"target"`
	Transaction           LogTransaction           `json:"transaction"`
	DebugContext          LogDebugContext          `json:"debugContext"`
	AuthenticationContext LogAuthenticationContext `json:"authenticationContext"`
	SecurityContext       LogSecurityContext       `json:"securityContext"`
	Request               LogRequest               `json:"request"`
}

// LogActor is an event's actor or one of its targets.
type LogActor struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	AlternateID string         `json:"alternateId"`
	DisplayName string         `json:"displayName"`
	DetailEntry map[string]any `json:"detailEntry"`
}

// LogClient is the client (user agent, network) that caused the event.
type LogClient struct {
	UserAgent           LogUserAgent            `json:"userAgent"`
	Zone                string                  `json:"zone"`
	Device              string                  `json:"device"`
	ID                  *string                 `json:"id"`
	IPAddress           string                  `json:"ipAddress"`
	GeographicalContext *LogGeographicalContext `json:"geographicalContext"`
}

// LogUserAgent is a parsed User-Agent.
type LogUserAgent struct {
	RawUserAgent string `json:"rawUserAgent"`
	OS           string `json:"os"`
	Browser      string `json:"browser"`
}

// LogGeographicalContext is the location of an IP address.
type LogGeographicalContext struct {
	City        string          `json:"city"`
	State       string          `json:"state"`
	Country     string          `json:"country"`
	PostalCode  string          `json:"postalCode"`
	Geolocation *LogGeolocation `json:"geolocation"`
}

// LogGeolocation is a latitude and longitude.
type LogGeolocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// LogOutcome is the result of the action: SUCCESS, FAILURE, ALLOW, DENY...
type LogOutcome struct {
	Result string  `json:"result"`
	Reason *string `json:"reason"`
}

// LogTransaction identifies the request that caused the event.
type LogTransaction struct {
	Type   string         `json:"type"`
	ID     string         `json:"id"`
	Detail map[string]any `json:"detail"`
}

// LogDebugContext carries free-form debug data, such as threatSuspected.
type LogDebugContext struct {
	DebugData map[string]any `json:"debugData"`
}

// LogAuthenticationContext says how the actor authenticated.
type LogAuthenticationContext struct {
	AuthenticationProvider *string    `json:"authenticationProvider"`
	CredentialProvider     *string    `json:"credentialProvider"`
	CredentialType         *string    `json:"credentialType"`
	Issuer                 *LogIssuer `json:"issuer"`
	Interface              *string    `json:"interface"`
	AuthenticationStep     int        `json:"authenticationStep"`
	ExternalSessionID      string     `json:"externalSessionId"`
}

// LogIssuer is the issuer of an authentication assertion.
type LogIssuer struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// LogSecurityContext describes the client's network (ASN, ISP, proxy).
type LogSecurityContext struct {
	AsNumber *int    `json:"asNumber"`
	AsOrg    *string `json:"asOrg"`
	ISP      *string `json:"isp"`
	Domain   *string `json:"domain"`
	IsProxy  *bool   `json:"isProxy"`
}

// LogRequest holds the chain of IP addresses the request went through.
type LogRequest struct {
	IPChain []LogIPAddress `json:"ipChain"`
}

// LogIPAddress is one hop of LogRequest.IPChain.
type LogIPAddress struct {
	IP                  string                  `json:"ip"`
	GeographicalContext *LogGeographicalContext `json:"geographicalContext"`
	Version             string                  `json:"version"`
	Source              *string                 `json:"source"`
}

// MarshalJSON writes published the way Okta does (millisecond precision, Z).
func (e LogEvent) MarshalJSON() ([]byte, error) {
	type plain LogEvent
	return json.Marshal(struct {
		plain
		Published string `json:"published"`
	}{plain(e), fmtTime(e.Published)})
}

type storedEvent struct {
	seq int64
	ev  LogEvent
	obj map[string]any // decoded JSON, for filters
}

// AddLogEvent appends an event to the System Log and returns its uuid. A
// zero Published becomes now, and empty UUID, Version ("0"), Severity
// ("INFO") and Transaction are filled in.
func (s *Server) AddLogEvent(ev LogEvent) string {
	if ev.UUID == "" {
		ev.UUID = newUUID()
	}
	if ev.Version == "" {
		ev.Version = "0"
	}
	if ev.Severity == "" {
		ev.Severity = "INFO"
	}
	if ev.Transaction.ID == "" {
		ev.Transaction = LogTransaction{Type: "WEB", ID: randomID("", 27), Detail: map[string]any{}}
	}
	if ev.Target == nil {
		ev.Target = []LogActor{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Published.IsZero() {
		ev.Published = s.now()
	}
	ev.Published = ev.Published.UTC().Truncate(time.Millisecond)
	raw, _ := json.Marshal(ev)
	var obj map[string]any
	_ = json.Unmarshal(raw, &obj)
	s.eventSeq++
	s.events = append(s.events, &storedEvent{seq: s.eventSeq, ev: ev, obj: obj})
	return ev.UUID
}

// LogEvents returns a copy of the System Log in the order it was written.
func (s *Server) LogEvents() []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LogEvent, len(s.events))
	for i, e := range s.events {
		out[i] = e.ev
	}
	return out
}

// listLogs is GET /api/v1/logs.
//
// A polling query (no until, sortOrder ASCENDING) walks events in the order
// they were written, and its Link header always has rel="next", even on an
// empty page: following it later returns events written since. A bounded
// query (until given, or DESCENDING) walks events by published time and has
// rel="next" only while more events remain. The after cursor is opaque.
func (s *Server) listLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lq, badParam := parseLogQuery(q, s.now())
	switch {
	case badParam == "filter":
		s.writeError(w, http.StatusBadRequest, errInvalidSearch, "Invalid search criteria.")
		return
	case badParam != "":
		s.writeError(w, http.StatusBadRequest, errValidation, "Api validation failed: "+badParam, badParam+": invalid value")
		return
	}
	matched := s.selectLogs(lq)
	page := matched[:min(lq.limit, len(matched))]

	w.Header().Add("Link", "<"+s.URL()+r.URL.RequestURI()+`>; rel="self"`)
	if lq.polling || len(page) < len(matched) {
		next := lq.after
		if len(page) > 0 {
			next = page[len(page)-1]
		}
		if next == nil {
			next = &storedEvent{} // before every event
		}
		q.Set("after", encodeLogCursor(next))
		w.Header().Add("Link", "<"+s.URL()+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	events := make([]LogEvent, len(page))
	for i, e := range page {
		events[i] = e.ev
	}
	s.writeJSON(w, http.StatusOK, events)
}

type logQuery struct {
	since, until time.Time
	descending   bool
	polling      bool
	limit        int
	match        filterExpr
	after        *storedEvent // cursor, nil for the first page
}

// parseLogQuery reads the query parameters of GET /api/v1/logs; on error it
// returns the name of the bad parameter.
func parseLogQuery(q url.Values, now time.Time) (logQuery, string) {
	var lq logQuery
	var err error
	if lq.until, err = parseLogTime(q.Get("until"), now); err != nil {
		return lq, "until"
	}
	if lq.since, err = parseLogTime(q.Get("since"), lq.until.Add(-7*24*time.Hour)); err != nil {
		return lq, "since"
	}
	switch q.Get("sortOrder") {
	case "", "ASCENDING":
	case "DESCENDING":
		lq.descending = true
	default:
		return lq, "sortOrder"
	}
	lq.limit = 100
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return lq, "limit"
		}
		if n > 0 {
			lq.limit = min(n, 1000)
		}
	}
	if f := q.Get("filter"); f != "" {
		if lq.match, err = parseFilter(f); err != nil {
			return lq, "filter"
		}
	}
	if a := q.Get("after"); a != "" {
		if lq.after = decodeLogCursor(a); lq.after == nil {
			return lq, "after"
		}
	}
	lq.polling = q.Get("until") == "" && !lq.descending
	return lq, ""
}

// selectLogs returns the events of the query from its cursor on, in order.
func (s *Server) selectLogs(lq logQuery) []*storedEvent {
	s.mu.Lock()
	var matched []*storedEvent
	for _, e := range s.events {
		p := e.ev.Published
		if p.Before(lq.since) || (!lq.polling && !p.Before(lq.until)) {
			continue
		}
		if lq.match == nil || lq.match(e.obj) {
			matched = append(matched, e)
		}
	}
	s.mu.Unlock()

	cmp := func(a, b *storedEvent) int { // published order, then write order
		if c := a.ev.Published.Compare(b.ev.Published); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	}
	if lq.polling {
		cmp = func(a, b *storedEvent) int { return int(a.seq - b.seq) }
	}
	if lq.descending {
		asc := cmp
		cmp = func(a, b *storedEvent) int { return -asc(a, b) }
	}
	slices.SortFunc(matched, cmp)
	if lq.after != nil {
		i := 0
		for i < len(matched) && cmp(matched[i], lq.after) <= 0 {
			i++
		}
		matched = matched[i:]
	}
	return matched
}

func parseLogTime(v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

func encodeLogCursor(e *storedEvent) string {
	raw := fmt.Sprintf("%d:%d", e.seq, e.ev.Published.UnixNano())
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeLogCursor(s string) *storedEvent {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	var seq, nanos int64
	if _, err := fmt.Sscanf(string(raw), "%d:%d", &seq, &nanos); err != nil {
		return nil
	}
	return &storedEvent{seq: seq, ev: LogEvent{Published: time.Unix(0, nanos)}}
}
