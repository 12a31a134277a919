package graphserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SignIn is one entry of the sign-in log, shaped like Graph's signIn
// resource (v1.0). riskDetail, riskLevelAggregated and riskLevelDuringSignIn
// need Microsoft Entra ID P2: without it (Options.NoP2License) Graph returns
// "hidden" for them. Reading the log at all needs P1 or P2.
type SignIn struct {
	ID                      string         `json:"id"`
	CreatedDateTime         time.Time      `json:"createdDateTime"`
	UserDisplayName         string         `json:"userDisplayName"`
	UserPrincipalName       string         `json:"userPrincipalName"`
	UserID                  string         `json:"userId"`
	AppID                   string         `json:"appId"`
	AppDisplayName          string         `json:"appDisplayName"`
	IPAddress               string         `json:"ipAddress"`
	ClientAppUsed           string         `json:"clientAppUsed"`
	CorrelationID           string         `json:"correlationId"`
	ConditionalAccessStatus string         `json:"conditionalAccessStatus"`
	IsInteractive           bool           `json:"isInteractive"`
	ResourceDisplayName     string         `json:"resourceDisplayName"`
	ResourceID              string         `json:"resourceId"`
	RiskDetail              string         `json:"riskDetail"`
	RiskLevelAggregated     string         `json:"riskLevelAggregated"`
	RiskLevelDuringSignIn   string         `json:"riskLevelDuringSignIn"`
	RiskState               string         `json:"riskState"`
	RiskEventTypesV2        []string       `json:"riskEventTypes_v2"`
	Status                  SignInStatus   `json:"status"`
	DeviceDetail            DeviceDetail   `json:"deviceDetail"`
	Location                SignInLocation `json:"location"`
}

// SignInStatus is signInStatus: errorCode 0 is success.
type SignInStatus struct {
	ErrorCode         int     `json:"errorCode"`
	FailureReason     *string `json:"failureReason"`
	AdditionalDetails *string `json:"additionalDetails"`
}

// DeviceDetail is deviceDetail.
type DeviceDetail struct {
	DeviceID        string `json:"deviceId"`
	DisplayName     string `json:"displayName"`
	OperatingSystem string `json:"operatingSystem"`
	Browser         string `json:"browser"`
	IsCompliant     bool   `json:"isCompliant"`
	IsManaged       bool   `json:"isManaged"`
	TrustType       string `json:"trustType"`
}

// SignInLocation is signInLocation.
type SignInLocation struct {
	City            string         `json:"city"`
	State           string         `json:"state"`
	CountryOrRegion string         `json:"countryOrRegion"`
	GeoCoordinates  GeoCoordinates `json:"geoCoordinates"`
}

// GeoCoordinates is geoCoordinates.
type GeoCoordinates struct {
	Altitude  *float64 `json:"altitude"`
	Latitude  float64  `json:"latitude"`
	Longitude float64  `json:"longitude"`
}

// AddSignIn appends an entry to the sign-in log and returns its id. Empty
// fields get defaults: a new id, now for createdDateTime, userId from the
// userPrincipalName, "none" for the risk fields, an empty riskEventTypes_v2.
func (s *Server) AddSignIn(si SignIn) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if si.ID == "" {
		si.ID = newGUID()
	}
	if si.CreatedDateTime.IsZero() {
		si.CreatedDateTime = s.now()
	}
	si.CreatedDateTime = si.CreatedDateTime.UTC()
	if u := s.userByKey(si.UserPrincipalName); u != nil && si.UserID == "" {
		si.UserID = u.id
	}
	for _, p := range []*string{&si.RiskDetail, &si.RiskLevelAggregated, &si.RiskLevelDuringSignIn, &si.RiskState} {
		if *p == "" {
			*p = "none"
		}
	}
	if si.RiskEventTypesV2 == nil {
		si.RiskEventTypesV2 = []string{}
	}
	if si.CorrelationID == "" {
		si.CorrelationID = newGUID()
	}
	s.signIns = append(s.signIns, si)
	return si.ID
}

// signInCursor is the state carried in $skiptoken: the query and the last
// entry served, so the next page starts strictly after it (keyset paging:
// entries added meanwhile cause neither gaps nor duplicates).
type signInCursor struct {
	Filter string    `json:"f,omitempty"`
	Asc    bool      `json:"a,omitempty"`
	Top    int       `json:"t"`
	At     time.Time `json:"at"`
	ID     string    `json:"id"`
}

// handleSignIns serves GET /v1.0/auditLogs/signIns: newest first unless
// $orderby=createdDateTime [asc], pages of $top (default and maximum 1000)
// linked by @odata.nextLink, and $filter on createdDateTime (ge, gt, le, lt,
// eq), userId, userPrincipalName, appId, appDisplayName, ipAddress (eq)
// joined by "and". Permission: AuditLog.Read.All; a P1/P2 license.
func (s *Server) handleSignIns(rc *reqCtx) {
	if !rc.app.has("AuditLog.Read.All") {
		rc.graphError(http.StatusForbidden, "Authentication_MSGraphPermissionMissing",
			"Calling principal does not have required MSGraph permissions AuditLog.Read.All")
		return
	}
	if s.opts.NoPremiumLicense {
		rc.graphError(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
			"Neither tenant is B2C or tenant doesn't have premium license")
		return
	}
	cur, after, match, ok := rc.signInQuery()
	if !ok {
		return
	}
	s.mu.Lock()
	all := slices.Clone(s.signIns)
	s.mu.Unlock()
	less := func(a, b SignIn) int {
		c := a.CreatedDateTime.Compare(b.CreatedDateTime)
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if !cur.Asc {
			c = -c
		}
		return c
	}
	slices.SortFunc(all, less)
	page := []map[string]any{}
	var last SignIn
	more := false
	for _, si := range all {
		if after && less(si, SignIn{CreatedDateTime: cur.At, ID: cur.ID}) <= 0 {
			continue
		}
		if match != nil && !match(si) {
			continue
		}
		if len(page) == cur.Top {
			more = true
			break
		}
		page = append(page, s.renderSignIn(si))
		last = si
	}
	body := map[string]any{"@odata.context": s.GraphURL() + "/$metadata#auditLogs/signIns", "value": page}
	if more {
		cur.At, cur.ID = last.CreatedDateTime, last.ID
		raw, _ := json.Marshal(cur)
		body["@odata.nextLink"] = s.GraphURL() + "/auditLogs/signIns?$top=" + strconv.Itoa(cur.Top) +
			"&$skiptoken=" + base64.RawURLEncoding.EncodeToString(raw)
	}
	rc.json(http.StatusOK, body)
}

// signInQuery reads the query of a signIns request, or the state of its
// $skiptoken: the cursor, whether to resume after it, and the filter.
func (rc *reqCtx) signInQuery() (cur signInCursor, after bool, match func(SignIn) bool, ok bool) {
	q := rc.r.URL.Query()
	cur.Filter = q.Get("$filter")
	if tok := q.Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.Top < 1 {
			rc.graphError(http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
			return cur, false, nil, false
		}
		after = true
	} else {
		if cur.Top, ok = rc.pageSize(1000, 1000); !ok {
			return cur, false, nil, false
		}
		switch strings.ToLower(strings.Join(strings.Fields(q.Get("$orderby")), " ")) {
		case "", "createddatetime desc":
		case "createddatetime", "createddatetime asc":
			cur.Asc = true
		default:
			rc.graphError(http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Unsupported $orderby '%s'; only createdDateTime is supported.", q.Get("$orderby")))
			return cur, false, nil, false
		}
	}
	if cur.Filter != "" {
		clauses, err := parseFilter(cur.Filter)
		if err == nil {
			match, err = signInMatcher(clauses)
		}
		if err != nil {
			rc.unsupportedQuery(err)
			return cur, false, nil, false
		}
	}
	return cur, after, match, true
}

func (s *Server) renderSignIn(si SignIn) map[string]any {
	raw, _ := json.Marshal(si)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if s.opts.NoP2License {
		for _, k := range []string{"riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn"} {
			m[k] = "hidden"
		}
	}
	return m
}

// signInMatcher compiles $filter clauses over signIn properties.
func signInMatcher(clauses []clause) (func(SignIn) bool, error) {
	var preds []func(SignIn) bool
	for _, c := range clauses {
		if c.prop == "createdDateTime" {
			if c.quoted {
				return nil, fmt.Errorf("createdDateTime takes an unquoted DateTimeOffset literal, got '%s'", c.value)
			}
			t, err := time.Parse(time.RFC3339Nano, c.value)
			if err != nil || c.op == "ne" {
				return nil, fmt.Errorf("invalid createdDateTime comparison %s %s", c.op, c.value)
			}
			op := c.op
			preds = append(preds, func(si SignIn) bool { return compareOp(si.CreatedDateTime.Compare(t), op) })
			continue
		}
		get := map[string]func(SignIn) string{
			"userId":            func(si SignIn) string { return si.UserID },
			"userPrincipalName": func(si SignIn) string { return si.UserPrincipalName },
			"appId":             func(si SignIn) string { return si.AppID },
			"appDisplayName":    func(si SignIn) string { return si.AppDisplayName },
			"ipAddress":         func(si SignIn) string { return si.IPAddress },
		}[c.prop]
		if get == nil || c.op != "eq" || !c.quoted {
			return nil, fmt.Errorf("unsupported comparison %s %s on property '%s'", c.op, c.value, c.prop)
		}
		v := c.value
		preds = append(preds, func(si SignIn) bool { return strings.EqualFold(get(si), v) })
	}
	return func(si SignIn) bool {
		for _, p := range preds {
			if !p(si) {
				return false
			}
		}
		return true
	}, nil
}

func compareOp(cmp int, op string) bool {
	switch op {
	case "eq":
		return cmp == 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	return false
}
