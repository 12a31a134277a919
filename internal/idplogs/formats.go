package idplogs

import (
	"encoding/json"
	"slices"
)

// oktaEvent is what Convert reads of an Okta System Log LogEvent.
type oktaEvent struct {
	UUID      string `json:"uuid"`
	EventType string `json:"eventType"`
	Published string `json:"published"`
	Actor     struct {
		// ID is Okta's user id, an alias of the account.
		ID          json.RawMessage `json:"id"`
		AlternateID string          `json:"alternateId"`
	} `json:"actor"`
	Client struct {
		IPAddress string `json:"ipAddress"`
		UserAgent struct {
			RawUserAgent string `json:"rawUserAgent"`
		} `json:"userAgent"`
		GeographicalContext json.RawMessage `json:"geographicalContext"`
	} `json:"client"`
	// SecurityContext and DebugContext carry Okta's view of the sign-in;
	// they are read leniently (see oktaProvider).
	SecurityContext json.RawMessage `json:"securityContext"`
	DebugContext    json.RawMessage `json:"debugContext"`
	Outcome         struct {
		Result string `json:"result"`
	} `json:"outcome"`
	// Device is the device Okta registered (Okta Verify, device assurance);
	// most events have none.
	Device *struct {
		ID string `json:"id"`
	} `json:"device"`
}

// oktaSignIns are the event types of a sign-in: a new Okta session, and a
// single sign-on into an application.
var oktaSignIns = []string{"user.session.start", "user.authentication.sso"}

func fromOkta(raw json.RawMessage, system string) (Record, error) {
	var e oktaEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return Record{}, err
	}
	if !slices.Contains(oktaSignIns, e.EventType) || e.Outcome.Result != "SUCCESS" {
		return Record{ID: e.UUID, Time: timeOf(e.Published)}, nil
	}
	ev, err := event(system, e.Actor.AlternateID, e.Client.IPAddress, e.Published, "published")
	ev.UserAgent = e.Client.UserAgent.RawUserAgent
	if e.Device != nil {
		ev.DeviceID = e.Device.ID
	}
	addAlias(&ev, str(e.Actor.ID))
	ev.Provider = oktaProvider(&e)
	return keep(e.UUID, ev, err)
}

// entraSignIn is what Convert reads of a Microsoft Graph signIn.
type entraSignIn struct {
	ID                string `json:"id"`
	CreatedDateTime   string `json:"createdDateTime"`
	UserPrincipalName string `json:"userPrincipalName"`
	IPAddress         string `json:"ipAddress"`
	Status            struct {
		// ErrorCode is 0 for a successful sign-in; a missing status is no
		// success.
		ErrorCode *int `json:"errorCode"`
	} `json:"status"`
	DeviceDetail struct {
		DeviceID string `json:"deviceId"`
	} `json:"deviceDetail"`
	// UserID is the user's object id, an alias of the account. It and the
	// fields below carry Entra's view of the sign-in and are read
	// leniently (see entraProvider).
	UserID                json.RawMessage `json:"userId"`
	Location              json.RawMessage `json:"location"`
	RiskLevelDuringSignIn json.RawMessage `json:"riskLevelDuringSignIn"`
	RiskState             json.RawMessage `json:"riskState"`
	RiskEventTypesV2      json.RawMessage `json:"riskEventTypes_v2"`
	RiskDetail            json.RawMessage `json:"riskDetail"`
}

func fromEntra(raw json.RawMessage, system string) (Record, error) {
	var s entraSignIn
	if err := json.Unmarshal(raw, &s); err != nil {
		return Record{}, err
	}
	if s.Status.ErrorCode == nil || *s.Status.ErrorCode != 0 {
		return Record{ID: s.ID, Time: timeOf(s.CreatedDateTime)}, nil
	}
	ev, err := event(system, s.UserPrincipalName, s.IPAddress, s.CreatedDateTime, "createdDateTime")
	ev.DeviceID = s.DeviceDetail.DeviceID
	addAlias(&ev, str(s.UserID))
	ev.Provider = entraProvider(&s)
	return keep(s.ID, ev, err)
}

// googleActivity is what Convert reads of an Admin SDK Reports activity.
type googleActivity struct {
	ID struct {
		Time            string `json:"time"`
		UniqueQualifier string `json:"uniqueQualifier"`
		ApplicationName string `json:"applicationName"`
	} `json:"id"`
	Actor struct {
		Email string `json:"email"`
		// ProfileID is the user's id, an alias of the account.
		ProfileID json.RawMessage `json:"profileId"`
	} `json:"actor"`
	IPAddress string        `json:"ipAddress"`
	Events    []googleEvent `json:"events"`
	// NetworkInfo is Google's view of the address, read leniently.
	NetworkInfo json.RawMessage `json:"networkInfo"`
}

// googleEvent is one event of an activity, such as login_success.
type googleEvent struct {
	Name string `json:"name"`
	// Parameters carry Google's view of the sign-in (is_suspicious), read
	// leniently.
	Parameters json.RawMessage `json:"parameters"`
}

func fromGoogle(raw json.RawMessage, system string) (Record, error) {
	var a googleActivity
	if err := json.Unmarshal(raw, &a); err != nil {
		return Record{}, err
	}
	// A unique qualifier tells apart activities of the same time.
	id := a.ID.Time + "/" + a.ID.UniqueQualifier
	if a.ID.Time == "" && a.ID.UniqueQualifier == "" {
		id = ""
	}
	success := slices.ContainsFunc(a.Events, func(e googleEvent) bool { return e.Name == "login_success" })
	if a.ID.ApplicationName != "login" || !success {
		return Record{ID: id, Time: timeOf(a.ID.Time)}, nil
	}
	ev, err := event(system, a.Actor.Email, a.IPAddress, a.ID.Time, "id.time")
	addAlias(&ev, str(a.Actor.ProfileID))
	ev.Provider = googleProvider(&a)
	return keep(id, ev, err)
}
