package graphserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// addMember serves POST /v1.0/groups/{id}/members/$ref with body
// {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}
// (a .../users/{id} URL is accepted too): 204 when added, 400 when already a
// member, 404 when the group or the object does not exist. Permission:
// GroupMember.ReadWrite.All (least), Group.ReadWrite.All,
// Directory.ReadWrite.All.
func (s *Server) addMember(rc *reqCtx, groupID string) {
	if !rc.permitted(permMemberWrite) {
		return
	}
	var body map[string]any
	if err := json.NewDecoder(rc.r.Body).Decode(&body); err != nil {
		rc.graphError(http.StatusBadRequest, "Request_BadRequest", "Empty Payload. JSON content expected.")
		return
	}
	ref, _ := body["@odata.id"].(string)
	objID, ok := refObjectID(ref)
	if !ok {
		rc.graphError(http.StatusBadRequest, "Request_BadRequest",
			fmt.Sprintf("Invalid object identifier '%s'.", ref))
		return
	}
	s.mu.Lock()
	g := s.groups[strings.ToLower(groupID)]
	u := s.users[objID]
	dup := g != nil && u != nil && g.members[u.id]
	if g != nil && u != nil && !dup {
		g.members[u.id] = true
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		rc.notFound(groupID)
	case u == nil:
		rc.notFound(objID)
	case dup:
		rc.graphError(http.StatusBadRequest, "Request_BadRequest",
			"One or more added object references already exist for the following modified properties: 'members'.")
	default:
		rc.w.WriteHeader(http.StatusNoContent)
	}
}

// removeMember serves DELETE /v1.0/groups/{id}/members/{memberId}/$ref: 204
// when removed, 404 Request_ResourceNotFound when the group or the object
// does not exist or the object is not a member. Permission as addMember.
func (s *Server) removeMember(rc *reqCtx, groupID, memberID string) {
	if !rc.permitted(permMemberWrite) {
		return
	}
	s.mu.Lock()
	g := s.groups[strings.ToLower(groupID)]
	u := s.users[strings.ToLower(memberID)]
	was := g != nil && u != nil && g.members[u.id]
	if was {
		delete(g.members, u.id)
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		rc.notFound(groupID)
	case u == nil:
		rc.notFound(memberID)
	case !was:
		rc.graphError(http.StatusNotFound, "Request_ResourceNotFound",
			"One or more removed object references do not exist for the following modified properties: 'members'.")
	default:
		rc.w.WriteHeader(http.StatusNoContent)
	}
}

// refObjectID takes the object id out of an @odata.id reference URL,
// .../v1.0/directoryObjects/{id} or .../v1.0/users/{id}, on any host.
func refObjectID(ref string) (string, bool) {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", false
	}
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(seg) != 3 || seg[0] != "v1.0" {
		return "", false
	}
	switch strings.ToLower(seg[1]) {
	case "directoryobjects", "users":
	default:
		return "", false
	}
	id := strings.ToLower(seg[2])
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		return "", false
	}
	return id, true
}
