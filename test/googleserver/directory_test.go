package googleserver

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
)

const groupPath = "/admin/directory/v1/groups/eng@example.com"

func TestMembershipInsertDeleteAndHasMember(t *testing.T) {
	h := setup(t, Options{})
	annID := h.AddUser("ann@example.com")
	h.AddUser("bob@example.com")
	gid := h.AddGroup("eng@example.com")
	tok := h.token(adminSub, ScopeGroupMember)

	var m memberResource
	if code := h.callJSON("POST", groupPath+"/members", tok, map[string]string{"email": "Ann@example.com", "role": RoleManager}, &m); code != http.StatusOK {
		t.Fatalf("insert: %d", code)
	}
	if m.Kind != "admin#directory#member" || m.ID != annID || m.Email != "ann@example.com" || m.Role != RoleManager || m.Type != "USER" || m.Status != "ACTIVE" {
		t.Fatalf("inserted member %+v", m)
	}
	code, raw := h.call("POST", "/admin/directory/v1/groups/"+gid+"/members", tok, map[string]string{"email": "ann@example.com"})
	h.wantError(code, raw, 409, "duplicate", "Member already exists.")
	code, raw = h.call("POST", groupPath+"/members", tok, map[string]string{"email": "ghost@example.com"})
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: memberKey")
	code, raw = h.call("POST", groupPath+"/members", tok, map[string]string{"email": "bob@example.com", "role": "BOSS"})
	h.wantError(code, raw, 400, "invalid", "")
	code, raw = h.call("POST", "/admin/directory/v1/groups/nope@example.com/members", tok, map[string]string{"email": "bob@example.com"})
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: groupKey")
	if got := h.Members("eng@example.com"); !slices.Equal(got, []string{"ann@example.com"}) || h.MemberRole(gid, "ann@example.com") != RoleManager {
		t.Fatalf("Members = %v role %q", got, h.MemberRole(gid, "ann@example.com"))
	}

	checkHasMember(t, h, tok, annID)

	code, raw = h.call("DELETE", groupPath+"/members/ann@example.com", tok, nil)
	if code != http.StatusNoContent || len(raw) != 0 {
		t.Fatalf("delete: %d %q", code, raw)
	}
	code, raw = h.call("DELETE", groupPath+"/members/ann@example.com", tok, nil)
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: memberKey")
	if got := h.Members(gid); len(got) != 0 {
		t.Fatalf("Members after delete = %v", got)
	}
	if n := h.Requests("DELETE", groupPath+"/members/ann@example.com"); n != 2 {
		t.Fatalf("Requests = %d, want 2", n)
	}
}

func TestGroupsGet(t *testing.T) {
	h := setup(t, Options{})
	gid := h.AddGroup("eng@example.com")
	h.AddMember(gid, adminSub, RoleOwner)
	var g groupResource
	tok := h.token(adminSub, ScopeGroupReadonly)
	if code := h.callJSON("GET", "/admin/directory/v1/groups/"+gid, tok, nil, &g); code != http.StatusOK ||
		g.Kind != "admin#directory#group" || g.Email != "eng@example.com" || g.Name != "eng" || g.DirectMembersCount != "1" {
		t.Fatalf("groups.get: %d %+v", code, g)
	}
	code, raw := h.call("GET", "/admin/directory/v1/groups/none@example.com", tok, nil)
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: groupKey")
}

func TestMembersListPagesWithoutGapsOrRepeats(t *testing.T) {
	h := setup(t, Options{})
	h.AddGroup("eng@example.com")
	var want []string
	for i := range 7 {
		email := "u" + strconv.Itoa(i) + "@example.com"
		h.AddUser(email)
		role := RoleMember
		if i == 3 {
			role = RoleOwner
		}
		h.AddMember("eng@example.com", email, role)
		want = append(want, email)
	}
	tok := h.token(adminSub, ScopeGroupMemberReadonly)
	var got []string
	pages, next := 0, ""
	for {
		var page membersResource
		code := h.callJSON("GET", groupPath+"/members?maxResults=3&pageToken="+next, tok, nil, &page)
		if code != http.StatusOK || page.Kind != "admin#directory#members" || len(page.Members) > 3 {
			t.Fatalf("page %d: %d %+v", pages, code, page)
		}
		for _, m := range page.Members {
			got = append(got, m.Email)
		}
		pages++
		if next = page.NextPageToken; next == "" {
			break
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages: %v, want %v", pages, got, want)
	}
	var owners membersResource
	if code := h.callJSON("GET", groupPath+"/members?roles=OWNER", tok, nil, &owners); code != http.StatusOK ||
		len(owners.Members) != 1 || owners.Members[0].Email != "u3@example.com" {
		t.Fatalf("roles=OWNER: %d %+v", code, owners)
	}
	code, raw := h.call("GET", groupPath+"/members?maxResults=0", tok, nil)
	h.wantError(code, raw, 400, "invalid", "Invalid value '0'. Values must be within the range: [1, 200]")
	code, raw = h.call("GET", groupPath+"/members?pageToken=garbage!", tok, nil)
	h.wantError(code, raw, 400, "invalid", "")
}

func TestSuspendAndUnsuspend(t *testing.T) {
	h := setup(t, Options{})
	id := h.AddUser("ann@example.com")
	tok := h.token(adminSub, ScopeUser)
	var u userResource
	if code := h.callJSON("PATCH", "/admin/directory/v1/users/ann@example.com", tok, map[string]bool{"suspended": true}, &u); code != http.StatusOK ||
		!u.Suspended || u.SuspensionReason != "ADMIN" || u.ID != id || u.Kind != "admin#directory#user" {
		t.Fatalf("patch: %d %+v", code, u)
	}
	if !h.Suspended("ann@example.com") {
		t.Fatal("Suspended = false after the patch")
	}
	if code := h.callJSON("GET", "/admin/directory/v1/users/"+id, tok, nil, &u); code != http.StatusOK || !u.Suspended {
		t.Fatalf("get by id: %d %+v", code, u)
	}
	u = userResource{}
	if code := h.callJSON("PUT", "/admin/directory/v1/users/"+id, tok, map[string]bool{"suspended": false}, &u); code != http.StatusOK ||
		u.Suspended || u.SuspensionReason != "" {
		t.Fatalf("put: %d %+v", code, u)
	}
	if h.Suspended("ann@example.com") {
		t.Fatal("Suspended = true after unsuspending")
	}
	// A patch without the field leaves it alone (patch semantics).
	h.SetSuspended("ann@example.com", true)
	u = userResource{}
	if h.callJSON("PATCH", "/admin/directory/v1/users/"+id, tok, map[string]string{"orgUnitPath": "/"}, &u); !u.Suspended {
		t.Fatal("an unrelated patch unsuspended the user")
	}
	code, raw := h.call("PATCH", "/admin/directory/v1/users/ghost@example.com", tok, map[string]bool{"suspended": true})
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: userKey")
	code, raw = h.call("GET", "/admin/directory/v1/users/ghost@example.com", tok, nil)
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: userKey")
}

func TestSignOutClearsSessions(t *testing.T) {
	h := setup(t, Options{})
	h.AddUser("ann@example.com")
	h.AddSession("ann@example.com")
	h.AddSession("ann@example.com")
	if h.Sessions("ann@example.com") != 2 {
		t.Fatal("AddSession did not count")
	}
	tok := h.token(adminSub, ScopeUserSecurity)
	if code, raw := h.call("POST", "/admin/directory/v1/users/ann@example.com/signOut", tok, nil); code != http.StatusNoContent || len(raw) != 0 {
		t.Fatalf("signOut: %d %q", code, raw)
	}
	if n := h.Sessions("ann@example.com"); n != 0 {
		t.Fatalf("Sessions = %d after signOut", n)
	}
	code, raw := h.call("POST", "/admin/directory/v1/users/ghost@example.com/signOut", tok, nil)
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: userKey")
}

// checkHasMember checks hasMember and members.get with ann in the group and
// bob not.
func checkHasMember(t *testing.T, h *harness, tok, annID string) {
	t.Helper()
	isMember := func(key string) bool {
		var res map[string]bool
		if code := h.callJSON("GET", groupPath+"/hasMember/"+key, tok, nil, &res); code != http.StatusOK {
			t.Fatalf("hasMember %s: %d", key, code)
		}
		return res["isMember"]
	}
	if !isMember("ann@example.com") || !isMember(annID) || isMember("bob@example.com") {
		t.Fatal("hasMember disagrees with the state")
	}
	code, raw := h.call("GET", groupPath+"/hasMember/ghost@example.com", tok, nil)
	h.wantError(code, raw, 404, "notFound", "")
	var m memberResource
	if code := h.callJSON("GET", groupPath+"/members/"+annID, tok, nil, &m); code != http.StatusOK || m.Email != "ann@example.com" {
		t.Fatalf("members.get by id: %d %+v", code, m)
	}
	code, raw = h.call("GET", groupPath+"/members/bob@example.com", tok, nil)
	h.wantError(code, raw, 404, "notFound", "Resource Not Found: memberKey")
}
