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
	count(geolocation.quarantine) == 0 with input as run([geo("US")], [])
	count(geolocation.revoke) == 0 with input as run([geo("US")], [])
}

test_sanctioned_country_revokes if {
	codes(geolocation.revoke) == {"SanctionedCountry"} with input as run([geo("KP")], [])
}

test_sanctioned_country_is_not_also_a_mismatch if {
	count(geolocation.quarantine) == 0 with input as run([geo("IR")], [])
}

test_sanctioned_region_revokes if {
	f := {"spec": {"type": "geolocation", "source": "test", "evidence": {"country": "UA", "details": {"region": "UA-43"}}}}
	"SanctionedRegion" in codes(geolocation.revoke) with input as run([f], [])
}

test_sanctioned_sign_in_revokes if {
	doc := object.union(run([], []), {"signins": {"recent": [{"time": "2026-11-28T09:00:00Z", "ip": "175.45.176.1", "country": "KP"}]}})
	"SanctionedCountry" in codes(geolocation.revoke) with input as doc
}

test_foreign_country_quarantines if {
	codes(geolocation.quarantine) == {"CountryMismatch"} with input as run([geo("RU")], [])
}

test_travel_notice_covers_the_trip if {
	notice := {"country": "CA", "from": "2026-11-25T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
	count(geolocation.quarantine) == 0 with input as run([geo("CA")], [notice])
}

test_travel_notice_elsewhere_does_not_cover if {
	notice := {"country": "CA", "from": "2026-11-25T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
	"CountryMismatch" in codes(geolocation.quarantine) with input as run([geo("MX")], [notice])
}

test_travel_notice_in_the_past_does_not_cover if {
	notice := {"country": "CA", "from": "2026-10-01T00:00:00Z", "until": "2026-10-05T00:00:00Z"}
	"CountryMismatch" in codes(geolocation.quarantine) with input as run([geo("CA")], [notice])
}

test_corporate_egress_is_not_a_mismatch if {
	count(geolocation.quarantine) == 0 with input as run([geo("DE")], [])
		with data.portcullis.corporate_egress_asns as [64512]
}

test_impossible_travel_quarantines if {
	f := {"spec": {"type": "impossible-travel", "source": "ingester", "summary": "US to SG in 40 minutes", "evidence": {}}}
	codes(geolocation.quarantine) == {"ImpossibleTravel"} with input as run([f], [])
}

trip(from, to, fromASN) := {"spec": {
	"type": "impossible-travel", "source": "ingester", "lastSeen": "2026-11-28T10:00:00Z",
	"evidence": {"country": to, "asn": 64512, "details": {"fromCountry": from, "fromASN": fromASN}},
}}

test_travel_notice_excuses_either_end_of_an_impossible_trip if {
	notice := {"country": "JP", "from": "2026-11-25T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
	count(geolocation.quarantine) == 0 with input as run([trip("US", "JP", "7922")], [notice])
	count(geolocation.quarantine) == 0 with input as run([trip("JP", "SG", "7922")], [notice])
	"ImpossibleTravel" in codes(geolocation.quarantine) with input as run([trip("US", "SG", "7922")], [notice])
}

test_travel_notice_is_read_at_the_time_of_the_trip if {
	ended := {"country": "JP", "from": "2026-11-20T00:00:00Z", "until": "2026-11-27T00:00:00Z"}
	"ImpossibleTravel" in codes(geolocation.quarantine) with input as run([trip("US", "JP", "7922")], [ended])
}

test_impossible_trip_between_corporate_egress_points_is_none if {
	count(geolocation.quarantine) == 0 with input as run([trip("US", "DE", "64500")], [])
		with data.portcullis.corporate_egress_asns as [64500]
	count(geolocation.quarantine) == 0 with input as run([trip("US", "DE", "7922")], [])
		with data.portcullis.corporate_egress_asns as [64512]
}
