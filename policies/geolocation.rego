# Geolocation: where the contractor really is, against where they claim to be.
package portcullis.policies.geolocation

claimed := input.contractor.spec.claimedLocation.country

revoke contains reason if {
	some f in input.findings
	country := f.spec.evidence.country
	country in data.portcullis.sanctioned_countries
	reason := {
		"msg": sprintf("activity from comprehensively sanctioned country %s (%s finding from %s)", [country, f.spec.type, f.spec.source]),
		"code": "SanctionedCountry",
		"severity": "Critical",
	}
}

revoke contains reason if {
	some f in input.findings
	region := f.spec.evidence.details.region
	region in data.portcullis.sanctioned_regions
	reason := {
		"msg": sprintf("activity from sanctioned region %s (%s finding from %s)", [region, f.spec.type, f.spec.source]),
		"code": "SanctionedRegion",
		"severity": "Critical",
	}
}

revoke contains reason if {
	some signin in input.signins.recent
	signin.country in data.portcullis.sanctioned_countries
	reason := {
		"msg": sprintf("sign-in from comprehensively sanctioned country %s at %s", [signin.country, signin.time]),
		"code": "SanctionedCountry",
		"severity": "Critical",
	}
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type == "geolocation"
	country := f.spec.evidence.country
	country != claimed
	not country in data.portcullis.sanctioned_countries
	not corporate_egress(f)
	not travelling(country, seen_at(f))
	reason := {
		"msg": sprintf("signed in from %s while claiming to be in %s, with no travel notice", [country, claimed]),
		"code": "CountryMismatch",
		"severity": "High",
	}
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type == "impossible-travel"
	not corporate_egress(f)
	not from_corporate_egress(f)
	not travel_explains(f)
	reason := {
		"msg": sprintf("impossible travel: %s", [summary(f)]),
		"code": "ImpossibleTravel",
		"severity": "High",
	}
}

corporate_egress(f) if f.spec.evidence.asn in data.portcullis.corporate_egress_asns

# from_corporate_egress holds when an impossible trip started at the
# company's own egress: two egress points of one VPN are no trip at all.
from_corporate_egress(f) if to_number(f.spec.evidence.details.fromASN) in data.portcullis.corporate_egress_asns

# travel_explains holds when a travel notice covers either end of an
# impossible trip at the time of the trip: flights and roaming are what
# notices are for.
travel_explains(f) if travelling(f.spec.evidence.country, seen_at(f))

travel_explains(f) if travelling(f.spec.evidence.details.fromCountry, seen_at(f))

# travelling holds when a travel notice covers country at time ts.
travelling(country, ts) if {
	some notice in input.contractor.spec.travelNotices
	notice.country == country
	t := time.parse_rfc3339_ns(ts)
	time.parse_rfc3339_ns(notice.from) <= t
	t <= time.parse_rfc3339_ns(notice.until)
}

seen_at(f) := f.spec.lastSeen

seen_at(f) := f.spec.firstSeen if {
	not f.spec.lastSeen
	f.spec.firstSeen
}

seen_at(f) := input.now if {
	not f.spec.lastSeen
	not f.spec.firstSeen
}

summary(f) := f.spec.summary

summary(f) := sprintf("reported by %s", [f.spec.source]) if not f.spec.summary
