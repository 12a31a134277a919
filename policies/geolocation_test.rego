package portcullis.policies.geolocation_test

import data.portcullis.policies.geolocation

now := "2026-11-28T12:00:00Z"

run(findings, notices) := {
	"contractor": {
		"metadata": {"name": "sam"},
		"spec": {"claimedLocation": {"country": "US"}, "travelNotices": notices},
	},
	"findings": findings,
	"signins": null,
	"now": now,
	"now_ns": time.parse_rfc3339_ns(now),
}

geo(country) := {"spec": {"type": "geolocation", "source": "test", "lastSeen": "2026-11-28T10:00:00Z", "evidence": {"country": country, "asn": 64512, "ip": "203.0.113.5"}}}

codes(reasons) := {r.code | some r in reasons}

test_home_country_is_clean if {
	count(geolocation.revoke) == 0 with input as run([geo("US")], [])
	count(geolocation.revoke) == 0 with input as run([geo("RU")], [])
}

test_sanctioned_country_revokes if {
	codes(geolocation.revoke) == {"SanctionedCountry"} with input as run([geo("KP")], [])
}

test_sanctioned_region_revokes if {
	f := {"spec": {"type": "geolocation", "source": "test", "evidence": {"country": "UA", "details": {"region": "UA-43"}}}}
	"SanctionedRegion" in codes(geolocation.revoke) with input as run([f], [])
}

test_sanctioned_sign_in_revokes if {
	doc := object.union(run([], []), {"signins": {"recent": [{"time": "2026-11-28T09:00:00Z", "ip": "175.45.176.1", "country": "KP"}]}})
	"SanctionedCountry" in codes(geolocation.revoke) with input as doc
}
