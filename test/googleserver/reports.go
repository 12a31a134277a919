package googleserver

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	reportsBase          = "/admin/reports/v1/"
	activitiesPageMax    = 1000 // activities.list maxResults default and maximum
	activitiesRetention  = 180 * 24 * time.Hour
	activityKind         = "admin#reports#activity"
	activitiesKind       = "admin#reports#activities"
	loginApplicationName = "login"
)

// Activity is the Reports API's Activity resource (the fields a login audit
// record carries), with the reference's JSON names.
type Activity struct {
	Kind        string       `json:"kind"`
	Etag        string       `json:"etag,omitempty"`
	ID          ActivityID   `json:"id"`
	Actor       Actor        `json:"actor"`
	OwnerDomain string       `json:"ownerDomain,omitempty"`
	IPAddress   string       `json:"ipAddress,omitempty"`
	NetworkInfo *NetworkInfo `json:"networkInfo,omitempty"`
	Events      []Event      `json:"events"`
}

// ActivityID identifies an activity record.
type ActivityID struct {
	Time            time.Time `json:"time"`
	UniqueQualifier int64     `json:"uniqueQualifier,string"`
	ApplicationName string    `json:"applicationName"`
	CustomerID      string    `json:"customerId"`
}

// Actor is the user who did the action.
type Actor struct {
	CallerType string `json:"callerType,omitempty"`
	Email      string `json:"email,omitempty"`
	ProfileID  string `json:"profileId,omitempty"`
	Key        string `json:"key,omitempty"`
}

// NetworkInfo is the network the actor acted from.
type NetworkInfo struct {
	IPAsn           []int32 `json:"ipAsn,omitempty"`
	RegionCode      string  `json:"regionCode,omitempty"`
	SubdivisionCode string  `json:"subdivisionCode,omitempty"`
}

// Event is one event of an activity, e.g. type "login", name
// "login_success".
type Event struct {
	Type       string      `json:"type,omitempty"`
	Name       string      `json:"name"`
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter is an event parameter; exactly one of the value fields is set.
type Parameter struct {
	Name       string   `json:"name"`
	Value      string   `json:"value,omitempty"`
	BoolValue  *bool    `json:"boolValue,omitempty"`
	IntValue   string   `json:"intValue,omitempty"`
	MultiValue []string `json:"multiValue,omitempty"`
}

// StringParam is a parameter with a string value.
func StringParam(name, value string) Parameter { return Parameter{Name: name, Value: value} }

// BoolParam is a parameter with a boolean value.
func BoolParam(name string, value bool) Parameter { return Parameter{Name: name, BoolValue: &value} }

// IntParam is a parameter with an integer value (sent as a string, as
// int64 fields are in Google's JSON).
func IntParam(name string, value int64) Parameter {
	return Parameter{Name: name, IntValue: strconv.FormatInt(value, 10)}
}

// LoginEvent is a login audit event: name is login_success, login_failure,
// login_challenge, login_verification, logout, suspicious_login, ...;
// loginType is the login_type parameter (google_password, saml, reauth,
// exchange, unknown).
func LoginEvent(name, loginType string, suspicious bool) Event {
	return Event{Type: "login", Name: name, Parameters: []Parameter{
		StringParam("login_type", loginType), BoolParam("is_suspicious", suspicious),
	}}
}

type activitiesResource struct {
	Kind          string     `json:"kind"`
	Etag          string     `json:"etag"`
	Items         []Activity `json:"items,omitempty"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}

// AddLoginActivity records a login audit activity and returns it as the API
// will report it. Missing fields are filled in: kind, id.applicationName
// ("login"), id.customerId, id.time (now), a unique id.uniqueQualifier,
// actor.callerType (USER) and actor.profileId (the user's id, if known).
func (s *Server) AddLoginActivity(a Activity) Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Kind = activityKind
	if a.ID.ApplicationName == "" {
		a.ID.ApplicationName = loginApplicationName
	}
	if a.ID.CustomerID == "" {
		a.ID.CustomerID = s.opts.CustomerID
	}
	if a.ID.Time.IsZero() {
		a.ID.Time = s.opts.Now()
	}
	a.ID.Time = a.ID.Time.UTC()
	if a.ID.UniqueQualifier == 0 {
		s.nextID++
		a.ID.UniqueQualifier = s.nextID
	}
	if a.Actor.Email != "" && a.Actor.CallerType == "" {
		a.Actor.CallerType = "USER"
	}
	if u := s.userByKey(a.Actor.Email); u != nil && a.Actor.ProfileID == "" {
		a.Actor.ProfileID = u.id
	}
	a.Etag = fmt.Sprintf("%q", strconv.FormatInt(a.ID.UniqueQualifier, 10))
	s.acts = append(s.acts, a)
	return a
}

func (s *Server) routeReports(mux *http.ServeMux) {
	mux.HandleFunc("GET "+reportsBase+"activity/users/{userKey}/applications/{applicationName}", s.listActivities)
}

// activityQuery is a parsed activities.list request.
type activityQuery struct {
	app        string // the applicationName of the path
	start, end time.Time
	limit      int
	after      *ActivityID // page cursor: the last record already sent
	actor      string      // "" for all users
	eventName  string
	actorIP    string
}

// listActivities is activities.list. It reports the records of the path's
// application only (an activity added with another id.applicationName is
// that application's). Records come newest first; pages are cut by an
// opaque cursor so that paging neither skips nor repeats records.
func (s *Server) listActivities(w http.ResponseWriter, r *http.Request) {
	g := s.authorize(w, r, ScopeReportsAudit)
	if g == nil {
		return
	}
	s.mu.Lock()
	caller := s.userByKey(g.sub)
	admin := g.sub != "" && caller != nil && caller.admin && !caller.suspended
	s.mu.Unlock()
	if !admin {
		writeError(w, http.StatusUnauthorized, "authError", "Access denied. You are not authorized to read activity records.")
		return
	}
	q, ok := s.parseActivityQuery(w, r)
	if !ok {
		return
	}
	out := activitiesResource{Kind: activitiesKind, Etag: fmt.Sprintf("%q", "activities")}
	s.mu.Lock()
	matched := make([]Activity, 0, len(s.acts))
	for _, a := range s.acts {
		if q.matches(a) {
			matched = append(matched, a)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(matched, func(a, b Activity) int { return -compareIDs(a.ID, b.ID) })
	for _, a := range matched {
		if len(out.Items) == q.limit {
			last := out.Items[q.limit-1].ID
			out.NextPageToken = encodeCursor(last)
			break
		}
		out.Items = append(out.Items, a)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) parseActivityQuery(w http.ResponseWriter, r *http.Request) (activityQuery, bool) {
	v := r.URL.Query()
	now := s.opts.Now()
	q := activityQuery{app: r.PathValue("applicationName"), end: now, start: now.Add(-activitiesRetention),
		eventName: v.Get("eventName"), actorIP: v.Get("actorIpAddress")}
	invalid := func(msg string) (activityQuery, bool) {
		writeError(w, http.StatusBadRequest, "invalid", msg)
		return q, false
	}
	if raw := v.Get("endTime"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			return invalid("Invalid value for: endTime")
		}
		q.end = t
	}
	if raw := v.Get("startTime"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			return invalid("Invalid value for: startTime")
		}
		if t.After(now) || t.After(q.end) {
			return invalid("Start time must be before the end time and the current time.")
		}
		q.start = maxTime(t, q.start)
	}
	limit, ok := pageSize(w, v.Get("maxResults"), activitiesPageMax, activitiesPageMax, true)
	if !ok {
		return q, false
	}
	q.limit = limit
	if tok := v.Get("pageToken"); tok != "" {
		id, err := decodeCursor(tok)
		if err != nil {
			return invalid("Invalid value for: pageToken")
		}
		q.after = &id
	}
	if key := r.PathValue("userKey"); key != "all" {
		s.mu.Lock()
		u := s.userByKey(key)
		s.mu.Unlock()
		if u == nil {
			return invalid("Bad Request: userKey names no user of the domain.")
		}
		q.actor = u.email
	}
	return q, true
}

func (q activityQuery) matches(a Activity) bool {
	t := a.ID.Time
	if a.ID.ApplicationName != q.app || t.Before(q.start) || t.After(q.end) {
		return false
	}
	if q.after != nil && compareIDs(a.ID, *q.after) >= 0 {
		return false // already sent: at or newer than the cursor
	}
	if q.actor != "" && !strings.EqualFold(a.Actor.Email, q.actor) {
		return false
	}
	if q.actorIP != "" && a.IPAddress != q.actorIP {
		return false
	}
	return q.eventName == "" || slices.ContainsFunc(a.Events, func(e Event) bool { return e.Name == q.eventName })
}

// compareIDs orders records by time, then unique qualifier.
func compareIDs(a, b ActivityID) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	switch {
	case a.UniqueQualifier < b.UniqueQualifier:
		return -1
	case a.UniqueQualifier > b.UniqueQualifier:
		return 1
	}
	return 0
}

func encodeCursor(id ActivityID) string {
	raw := fmt.Sprintf("a:%d:%d", id.Time.UnixNano(), id.UniqueQualifier)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(tok string) (ActivityID, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return ActivityID{}, err
	}
	var ns, uq int64
	if _, err := fmt.Sscanf(string(b), "a:%d:%d", &ns, &uq); err != nil {
		return ActivityID{}, err
	}
	return ActivityID{Time: time.Unix(0, ns).UTC(), UniqueQualifier: uq}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
