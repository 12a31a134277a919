# Proxies, anonymizers and shared infrastructure: how remote operators hide
# where they are and who they are.
package portcullis.policies.proxy

kinds := {
	"vpn": {"code": "CommercialVPN", "severity": "Medium", "what": "a commercial VPN"},
	"hosting": {"code": "HostingProvider", "severity": "Medium", "what": "a hosting provider"},
	"public-proxy": {"code": "PublicProxy", "severity": "High", "what": "a public proxy"},
	"residential-proxy": {"code": "ResidentialProxy", "severity": "High", "what": "a residential proxy"},
	"tor": {"code": "TorExit", "severity": "High", "what": "a Tor exit node"},
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type == "anonymizer"
	not corporate_egress(f)
	kind := kinds[f.spec.anonymizerKind]
	reason := {
		"msg": sprintf("signed in through %s from %s", [kind.what, ip(f)]),
		"code": kind.code,
		"severity": kind.severity,
	}
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type != "anonymizer"
	f.spec.evidence.asn in data.portcullis.hosting_asns
	not corporate_egress(f)
	reason := {
		"msg": sprintf("activity from hosting provider AS%d (%s)", [f.spec.evidence.asn, ip(f)]),
		"code": "HostingProvider",
		"severity": "Medium",
	}
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type == "remote-access-tool"
	reason := {
		"msg": sprintf("remote-access tool or IP-KVM in use: %s", [tool(f)]),
		"code": "RemoteAccessTool",
		"severity": "High",
	}
}

quarantine contains reason if {
	some f in input.findings
	f.spec.type == "shared-infrastructure"
	others := concat(", ", object.get(f.spec.evidence, "relatedContractors", []))
	reason := {
		"msg": sprintf("the same %s is used by other contractors: %s", [shared_what(f), others]),
		"code": "SharedInfrastructure",
		"severity": "High",
	}
}

# An anonymizer and a sign-in from another country than the claimed one
# count together only when they happened close in time
# (data.portcullis.pairing_window_hours), and the sign-in only when no
# travel notice covered it when it happened.
revoke contains reason if {
	some f in input.findings
	anonymized(f)
	some g in input.findings
	g.spec.type == "geolocation"
	g.spec.evidence.country != input.contractor.spec.claimedLocation.country
	not corporate_egress(g)
	not travelling(g.spec.evidence.country, seen_at(g))
	close_in_time(f, g)
	reason := {
		"msg": sprintf("hides behind %s and was seen in %s while claiming %s", [kinds[f.spec.anonymizerKind].what, g.spec.evidence.country, input.contractor.spec.claimedLocation.country]),
		"code": "AnonymizerWithCountryMismatch",
		"severity": "Critical",
	}
}

revoke contains reason if {
	some f in input.findings
	anonymized(f)
	not verified
	reason := {
		"msg": sprintf("hides behind %s and has no passed identity document check", [kinds[f.spec.anonymizerKind].what]),
		"code": "AnonymizerWithUnverifiedIdentity",
		"severity": "Critical",
	}
}

anonymized(f) if {
	f.spec.type == "anonymizer"
	not corporate_egress(f)
}

verified if {
	some check in input.contractor.spec.verificationChecks
	check.type == "Document"
	check.result == "Passed"
	not expired(check)
}

expired(check) if time.parse_rfc3339_ns(check.expiresAt) <= input.now_ns

# travelling holds when a travel notice covers country at time ts.
travelling(country, ts) if {
	some notice in input.contractor.spec.travelNotices
	notice.country == country
	t := time.parse_rfc3339_ns(ts)
	time.parse_rfc3339_ns(notice.from) <= t
	t <= time.parse_rfc3339_ns(notice.until)
}

# close_in_time holds when the two findings' spans of evidence (firstSeen to
# lastSeen) come within the pairing window of each other.
close_in_time(f, g) if {
	gap := max([0, max([start_ns(f), start_ns(g)]) - min([end_ns(f), end_ns(g)])])
	gap <= data.portcullis.pairing_window_hours * 3600000000000
}

start_ns(f) := time.parse_rfc3339_ns(f.spec.firstSeen)

start_ns(f) := end_ns(f) if not f.spec.firstSeen

end_ns(f) := time.parse_rfc3339_ns(seen_at(f))

seen_at(f) := f.spec.lastSeen

seen_at(f) := f.spec.firstSeen if {
	not f.spec.lastSeen
	f.spec.firstSeen
}

seen_at(f) := input.now if {
	not f.spec.lastSeen
	not f.spec.firstSeen
}

corporate_egress(f) if f.spec.evidence.asn in data.portcullis.corporate_egress_asns

ip(f) := f.spec.evidence.ip

ip(f) := "an unknown address" if not f.spec.evidence.ip

tool(f) := f.spec.evidence.tool

tool(f) := "unnamed tool" if not f.spec.evidence.tool

shared_what(f) := sprintf("device %s", [f.spec.evidence.deviceID]) if f.spec.evidence.deviceID

shared_what(f) := sprintf("address %s", [f.spec.evidence.ip]) if {
	not f.spec.evidence.deviceID
	f.spec.evidence.ip
}

shared_what(f) := "infrastructure" if {
	not f.spec.evidence.deviceID
	not f.spec.evidence.ip
}
