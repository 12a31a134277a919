package portcullis.policies.proxy_test

import data.portcullis.policies.proxy

now := "2026-11-28T12:00:00Z"

passed_document := {"type": "Document", "result": "Passed", "documentCountry": "US", "completedAt": "2026-09-01T00:00:00Z"}

run(findings, checks) := {
	"contractor": {
		"metadata": {"name": "sam"},
		"spec": {"claimedLocation": {"country": "US"}, "verificationChecks": checks},
	},
	"findings": findings,
	"now": now,
	"now_ns": time.parse_rfc3339_ns(now),
}

anon(kind, asn) := {"spec": {"type": "anonymizer", "anonymizerKind": kind, "source": "ingester", "evidence": {"ip": "198.51.100.7", "asn": asn}}}

codes(reasons) := {r.code | some r in reasons}

test_each_anonymizer_quarantines if {
	every kind, code in {"vpn": "CommercialVPN", "tor": "TorExit", "hosting": "HostingProvider", "public-proxy": "PublicProxy", "residential-proxy": "ResidentialProxy"} {
		codes(proxy.quarantine) == {code} with input as run([anon(kind, 64513)], [passed_document])
	}
}

test_tor_is_high_severity if {
	some r in proxy.quarantine with input as run([anon("tor", 64513)], [passed_document])
	r.severity == "High"
}

test_corporate_vpn_is_allowed if {
	count(proxy.quarantine) == 0 with input as run([anon("vpn", 64500)], [passed_document])
		with data.portcullis.corporate_egress_asns as [64500]
	count(proxy.revoke) == 0 with input as run([anon("vpn", 64500)], [])
		with data.portcullis.corporate_egress_asns as [64500]
}

test_hosting_asn_on_any_finding_quarantines if {
	f := {"spec": {"type": "geolocation", "source": "ingester", "evidence": {"country": "US", "asn": 14061, "ip": "203.0.113.1"}}}
	codes(proxy.quarantine) == {"HostingProvider"} with input as run([f], [passed_document])
}

test_remote_access_tool_quarantines if {
	f := {"spec": {"type": "remote-access-tool", "source": "edr", "evidence": {"tool": "PiKVM"}}}
	codes(proxy.quarantine) == {"RemoteAccessTool"} with input as run([f], [passed_document])
}

test_shared_infrastructure_names_the_others if {
	f := {"spec": {"type": "shared-infrastructure", "source": "ingester", "evidence": {"deviceID": "laptop-1", "relatedContractors": ["kim", "lee"]}}}
	some r in proxy.quarantine with input as run([f], [passed_document])
	r.code == "SharedInfrastructure"
	contains(r.msg, "kim, lee")
}

test_anonymizer_with_country_mismatch_revokes if {
	mismatch := {"spec": {"type": "geolocation", "source": "ingester", "evidence": {"country": "CN"}}}
	"AnonymizerWithCountryMismatch" in codes(proxy.revoke) with input as run([anon("residential-proxy", 64513), mismatch], [passed_document])
}

test_anonymizer_with_unverified_identity_revokes if {
	codes(proxy.revoke) == {"AnonymizerWithUnverifiedIdentity"} with input as run([anon("vpn", 64513)], [])
}

test_anonymizer_with_verified_identity_does_not_revoke if {
	count(proxy.revoke) == 0 with input as run([anon("vpn", 64513)], [passed_document])
}

at(f, first, last) := object.union(f, {"spec": {"firstSeen": first, "lastSeen": last}})

test_anonymizer_and_mismatch_far_apart_do_not_revoke if {
	mismatch := at({"spec": {"type": "geolocation", "source": "ingester", "evidence": {"country": "CN"}}}, "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z")
	vpn := at(anon("vpn", 64513), "2026-11-01T08:00:00Z", "2026-11-02T09:00:00Z")
	count(proxy.revoke) == 0 with input as run([vpn, mismatch], [passed_document])
	near := at(anon("vpn", 64513), "2026-11-26T08:00:00Z", "2026-11-27T08:30:00Z")
	"AnonymizerWithCountryMismatch" in codes(proxy.revoke) with input as run([near, mismatch], [passed_document])
}

test_travel_notice_at_the_time_of_the_sign_in_counts_though_it_ended if {
	notice := {"country": "CN", "from": "2026-11-20T00:00:00Z", "until": "2026-11-27T12:00:00Z"}
	mismatch := at({"spec": {"type": "geolocation", "source": "ingester", "evidence": {"country": "CN"}}}, "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z")
	vpn := at(anon("vpn", 64513), "2026-11-27T07:00:00Z", "2026-11-27T07:30:00Z")
	doc := object.union(run([vpn, mismatch], [passed_document]), {"contractor": {"spec": {"travelNotices": [notice]}}})
	count(proxy.revoke) == 0 with input as doc
}
