# Geolocation: activity from a comprehensively sanctioned country or region
# revokes. Sign-ins from elsewhere than the claimed country, and impossible
# travel, add to the risk score (risk.rego).

# METADATA
# title: Geolocation
# description: Activity from a comprehensively sanctioned country or region revokes.
# scope: package
# schemas:
#   - input: schema.input
package portcullis.policies.geolocation

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
