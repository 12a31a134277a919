package portcullis.policies.risk_test

import data.portcullis.policies.risk

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

with_spec(doc, spec) := object.union(doc, {"contractor": {"spec": spec}})

anon(kind, asn) := {"spec": {"type": "anonymizer", "anonymizerKind": kind, "source": "ingester", "severity": "Medium", "evidence": {"ip": "198.51.100.7", "asn": asn}}}

geo(country) := {"spec": {"type": "geolocation", "source": "ingester", "severity": "High", "evidence": {"country": country, "asn": 64512}}}

shared(evidence) := {"spec": {"type": "shared-infrastructure", "source": "ingester", "severity": "High", "evidence": evidence}}

at(f, first, last) := object.union(f, {"spec": {"firstSeen": first, "lastSeen": last}})

codes(reasons) := {r.code | some r in reasons}

test_one_weak_signal_does_not_act if {
	every f in [anon("vpn", 64513), anon("tor", 64513), geo("CA"), shared({"ip": "203.0.113.9", "relatedContractors": ["kim"]})] {
		count(risk.quarantine) == 0 with input as run([f], [passed_document])
		count(risk.revoke) == 0 with input as run([f], [passed_document])
	}
}

test_signals_add_up_and_every_contribution_is_a_reason if {
	codes(risk.quarantine) == {"CommercialVPN", "CountryMismatch", "AnonymizerWithCountryMismatch"} with input as run([anon("vpn", 64513), geo("CN")], [passed_document])
	some r in risk.quarantine with input as run([anon("vpn", 64513), geo("CN")], [passed_document])
	contains(r.msg, "high risk 8 reaches the quarantine threshold 6")
}

test_a_shared_device_is_a_laptop_farm if {
	codes(risk.quarantine) == {"SharedDevice"} with input as run([shared({"deviceID": "laptop-1", "relatedContractors": ["kim", "lee"]})], [passed_document])
}

test_carrier_nat_is_no_shared_address if {
	count(risk.signals) == 0 with input as run([shared({"ip": "100.72.3.4", "relatedContractors": ["kim"]})], [passed_document])
}

test_low_severity_counts_at_most_one if {
	low := object.union(shared({"deviceID": "laptop-1"}), {"spec": {"severity": "Low"}})
	[s.weight | some s in risk.signals] == [1] with input as run([low], [passed_document])
}

test_corporate_egress_is_no_signal if {
	count(risk.signals) == 0 with input as run([anon("vpn", 64500), geo("DE")], [passed_document])
		with data.portcullis.corporate_egress_asns as [64500, 64512]
}

test_anonymizer_and_mismatch_far_apart_are_not_a_pair if {
	mismatch := at(geo("CN"), "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z")
	vpn := at(anon("vpn", 64513), "2026-11-01T08:00:00Z", "2026-11-02T09:00:00Z")
	not "AnonymizerWithCountryMismatch" in codes(risk.signals) with input as run([vpn, mismatch], [passed_document])
	near := at(anon("vpn", 64513), "2026-11-26T08:00:00Z", "2026-11-27T08:30:00Z")
	"AnonymizerWithCountryMismatch" in codes(risk.signals) with input as run([near, mismatch], [passed_document])
}

test_travel_notice_read_at_the_time_of_the_sign_in if {
	notice := {"country": "CN", "from": "2026-11-20T00:00:00Z", "until": "2026-11-27T12:00:00Z"}
	mismatch := at(geo("CN"), "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z")
	vpn := at(anon("vpn", 64513), "2026-11-27T07:00:00Z", "2026-11-27T07:30:00Z")
	codes(risk.signals) == {"CommercialVPN"} with input as with_spec(run([vpn, mismatch], [passed_document]), {"travelNotices": [notice]})
}

test_pay_and_equipment_elsewhere_add_up if {
	doc := with_spec(run([], [passed_document]), {"payoutCountry": "CN", "equipmentShippingCountry": "MX"})
	codes(risk.quarantine) == {"PayoutElsewhere", "ShippingElsewhere"} with input as doc
	count(risk.quarantine) == 0 with input as with_spec(run([], [passed_document]), {"payoutCountry": "CN"})
}

test_unverified_anonymizer_quarantines if {
	codes(risk.quarantine) == {"CommercialVPN", "AnonymizerWithUnverifiedIdentity", "VerificationMissing"} with input as run([anon("vpn", 64513)], [])
}

test_expired_check_with_a_renewal_under_way_is_no_signal if {
	expired := object.union(passed_document, {"expiresAt": "2026-11-01T00:00:00Z"})
	renewal := {"type": "Document", "result": "Pending", "requestedAt": "2026-11-27T00:00:00Z"}
	"VerificationExpired" in codes(risk.signals) with input as run([], [expired])
	not "VerificationExpired" in codes(risk.signals) with input as run([], [expired, renewal])
}

test_remote_access_tool_weighs_by_severity if {
	kvm := {"spec": {"type": "remote-access-tool", "source": "edr", "severity": "High", "evidence": {"tool": "PiKVM"}}}
	[s.weight | some s in risk.signals] == [5] with input as run([kvm], [passed_document])
	critical := object.union(kvm, {"spec": {"severity": "Critical"}})
	codes(risk.quarantine) == {"RemoteAccessTool"} with input as run([critical], [passed_document])
}

test_many_signals_revoke if {
	kvm := {"spec": {"type": "remote-access-tool", "source": "edr", "severity": "High", "evidence": {"tool": "PiKVM"}}}
	findings := [shared({"deviceID": "laptop-1", "relatedContractors": ["kim"]}), anon("residential-proxy", 64513), kvm]
	codes(risk.revoke) == {"SharedDevice", "ResidentialProxy", "RemoteAccessTool"} with input as run(findings, [passed_document])
	some r in risk.revoke with input as run(findings, [passed_document])
	r.weight > 0
	r.threshold == 12
}

trip(from, to, fromASN) := {"spec": {
	"type": "impossible-travel", "source": "ingester", "severity": "High", "lastSeen": "2026-11-28T10:00:00Z",
	"evidence": {"country": to, "asn": 64512, "details": {"fromCountry": from, "fromASN": fromASN}},
}}

notice(country, from, until) := {"country": country, "from": from, "until": until}

signal_codes(findings, notices) := c if {
	c := codes(risk.signals) with input as with_spec(run(findings, [passed_document]), {"travelNotices": notices})
}

test_home_country_and_sanctioned_countries_are_no_mismatch if {
	count(signal_codes([geo("US"), geo("KP")], [])) == 0
}

test_travel_notice_covers_the_trip_only_where_and_when if {
	seen := at(geo("CA"), "2026-11-28T09:00:00Z", "2026-11-28T10:00:00Z")
	count(signal_codes([seen], [notice("CA", "2026-11-25T00:00:00Z", "2026-12-01T00:00:00Z")])) == 0
	signal_codes([seen], [notice("MX", "2026-11-25T00:00:00Z", "2026-12-01T00:00:00Z")]) == {"CountryMismatch"}
	signal_codes([seen], [notice("CA", "2026-10-01T00:00:00Z", "2026-10-05T00:00:00Z")]) == {"CountryMismatch"}
}

test_travel_notice_excuses_either_end_of_an_impossible_trip if {
	japan := notice("JP", "2026-11-25T00:00:00Z", "2026-12-01T00:00:00Z")
	count(signal_codes([trip("US", "JP", "7922")], [japan])) == 0
	count(signal_codes([trip("JP", "SG", "7922")], [japan])) == 0
	signal_codes([trip("US", "SG", "7922")], [japan]) == {"ImpossibleTravel"}
	signal_codes([trip("US", "JP", "7922")], [notice("JP", "2026-11-20T00:00:00Z", "2026-11-25T00:00:00Z")]) == {"ImpossibleTravel"}
}

test_impossible_trip_between_corporate_egress_points_is_none if {
	count(codes(risk.signals)) == 0 with input as run([trip("US", "DE", "64500")], [passed_document])
		with data.portcullis.corporate_egress_asns as [64500]
	count(codes(risk.signals)) == 0 with input as run([trip("US", "DE", "7922")], [passed_document])
		with data.portcullis.corporate_egress_asns as [64512]
}

test_document_country_and_missing_check_are_signals if {
	foreign := object.union(passed_document, {"documentCountry": "MX"})
	codes(risk.signals) == {"DocumentCountryMismatch"} with input as run([], [foreign])
	codes(risk.signals) == {"VerificationMissing"} with input as run([], [])
}

test_satellite_internet_counts_for_little if {
	starlink := object.union(geo("US"), {"spec": {"evidence": {"asn": 14593}}})
	doc := with_spec(run([starlink], [passed_document]), {"claimedLocation": {"country": "CA"}})
	[s.weight | some s in risk.signals; s.code == "CountryMismatch"] == [1] with input as doc
	count(codes(risk.signals)) == 0 with input as run([trip("US", "JP", "14593")], [passed_document])
}

test_a_short_impossible_trip_is_geolocation_error if {
	short := object.union(trip("FR", "CH", "3215"), {"spec": {"evidence": {"details": {"distanceKM": "449"}}}})
	count(codes(risk.signals)) == 0 with input as run([short], [passed_document])
}

test_a_notice_covers_a_late_flight_home if {
	late := at(geo("JP"), "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
	count(signal_codes([late], [notice("JP", "2026-11-20T00:00:00Z", "2026-11-25T00:00:00Z")])) == 0
	signal_codes([late], [notice("JP", "2026-11-20T00:00:00Z", "2026-11-23T00:00:00Z")]) == {"CountryMismatch"}
}

test_a_country_the_pay_goes_to_is_one_fact if {
	doc := with_spec(run([geo("CH")], [passed_document]), {"equipmentShippingCountry": "CH"})
	codes(risk.signals) == {"ShippingElsewhere"} with input as doc
}

test_client_time_zone_far_from_the_claimed_one if {
	f := object.union(anon("vpn", 64513), {"spec": {"source": "portcullis-ingester", "evidence": {"details": {"timezone": "Asia/Shanghai"}}}})
	doc := with_spec(run([f], [passed_document]), {"claimedLocation": {"country": "US", "timezone": "America/Chicago"}})
	codes(risk.signals) == {"CommercialVPN", "ClientTimezoneMismatch"} with input as doc
	near := object.union(f, {"spec": {"evidence": {"details": {"timezone": "America/New_York"}}}})
	codes(risk.signals) == {"CommercialVPN"} with input as with_spec(run([near], [passed_document]), {"claimedLocation": {"country": "US", "timezone": "America/Chicago"}})
	unlisted := object.union(f, {"spec": {"evidence": {"details": {"timezone": "Antarctica/Troll"}}}})
	codes(risk.signals) == {"CommercialVPN"} with input as with_spec(run([unlisted], [passed_document]), {"claimedLocation": {"country": "US", "timezone": "America/Chicago"}})
}

test_weeks_of_travel_notices_for_one_country_are_a_signal if {
	notices := [
		notice("CN", "2026-11-10T00:00:00Z", "2026-11-24T00:00:00Z"),
		notice("CN", "2026-11-24T00:00:00Z", "2026-12-08T00:00:00Z"),
		notice("CN", "2026-12-08T00:00:00Z", "2026-12-22T00:00:00Z"),
	]
	signal_codes([], notices) == {"ExtendedTravel"}
	count(signal_codes([], [notices[0]])) == 0
}

with_signins(doc, recent) := object.union(doc, {"signins": {"recent": recent}, "contractor": {"spec": {"claimedLocation": {"country": "US", "timezone": "America/New_York"}}}})

test_a_client_far_from_the_claimed_zone_counts_from_the_sign_ins if {
	home := {"time": "2026-11-27T15:00:00Z", "ip": "71.246.33.118", "deviceID": "laptop", "timezone": "America/New_York"}
	far := {"time": "2026-11-27T02:00:00Z", "ip": "71.246.33.118", "deviceID": "desktop", "timezone": "Asia/Shanghai"}
	count(risk.signals) == 0 with input as with_signins(run([], [passed_document]), [home])
	codes(risk.signals) == {"ClientTimezoneMismatch"} with input as with_signins(run([], [passed_document]), [home, far])
}

test_a_client_set_to_a_sanctioned_country_weighs_like_a_shared_device if {
	kp := {"time": "2026-11-27T02:00:00Z", "ip": "71.246.33.118", "deviceID": "desktop", "timezone": "Asia/Pyongyang", "locale": "ko-KP"}
	codes(risk.quarantine) == {"SanctionedClientSettings", "ClientTimezoneMismatch"} with input as with_signins(run([], [passed_document]), [kp])
	locale_only := object.union(kp, {"timezone": "America/New_York"})
	codes(risk.signals) == {"SanctionedClientSettings"} with input as with_signins(run([], [passed_document]), [locale_only])
	seoul := object.union(kp, {"timezone": "Asia/Seoul", "locale": "ko-KR"})
	codes(risk.signals) == {"ClientTimezoneMismatch"} with input as with_signins(run([], [passed_document]), [seoul])
}

provider_risk(source, severity) := {"spec": {"type": "provider-risk", "source": source, "severity": severity, "key": sprintf("%s/%s", [source, lower(severity)]), "evidence": {"ip": "198.51.100.7", "country": "US", "details": {"risk": lower(severity), "riskDetail": "unfamiliarFeatures"}}}}

test_a_providers_rating_alone_never_acts if {
	every severity in ["Medium", "High"] {
		count(risk.quarantine) == 0 with input as run([provider_risk("entra", severity)], [passed_document])
		count(risk.revoke) == 0 with input as run([provider_risk("entra", severity)], [passed_document])
	}
	[s.weight | some s in risk.signals] == [1] with input as run([provider_risk("entra", "Medium")], [passed_document])
	[s.weight | some s in risk.signals] == [3] with input as run([provider_risk("entra", "High")], [passed_document])
	some r in risk.risk with input as run([provider_risk("entra", "Medium")], [passed_document])
	r.code == "ProviderRisk"
	r.msg == "entra rated a sign-in from 198.51.100.7 medium risk (unfamiliarFeatures)"
}

test_a_high_rating_through_a_hosting_provider_quarantines if {
	codes(risk.quarantine) == {"ProviderRisk", "HostingProvider"} with input as run([provider_risk("okta", "High"), anon("hosting", 64513)], [passed_document])
	codes(risk.quarantine) == {"ProviderRisk", "TorExit"} with input as run([provider_risk("google", "High"), anon("tor", 64513)], [passed_document])
	count(risk.quarantine) == 0 with input as run([provider_risk("entra", "Medium"), anon("hosting", 64513)], [passed_document])
	count(risk.quarantine) == 0 with input as run([provider_risk("entra", "Medium"), anon("tor", 64513)], [passed_document])
}

# An honest contractor on a commercial VPN that the provider rates High
# for it (Entra's anonymizedIPAddress) is shown, not quarantined: the one
# fact would count twice otherwise.
test_a_high_rating_of_a_vpn_sign_in_does_not_act if {
	count(risk.quarantine) == 0 with input as run([provider_risk("entra", "High"), anon("vpn", 64513)], [passed_document])
	some r in risk.risk with input as run([provider_risk("entra", "High"), anon("vpn", 64513)], [passed_document])
	r.code == "ProviderRisk"
}

# A Finding the Shared Signals sink records for a transmitter's event.
ssf(type, severity, summary, details) := {"spec": {"type": type, "source": "ssf:okta-signals", "key": "okta-signals", "severity": severity, "summary": summary, "evidence": {"details": object.union({"issuer": "https://example.okta.com", "jti": "j1"}, details)}}}

disabled := ssf("account-disabled", "High", "okta-signals reported account-disabled, initiated by admin: contract ended", {})

hijacked := ssf("account-disabled", "Critical", "okta-signals reported account-disabled (reason hijacking)", {"reason": "hijacking"})

compromised := ssf("credential-compromise", "High", "okta-signals reported credential-compromise (credentialType password)", {"credentialType": "password"})

noncompliant := ssf("device-noncompliant", "Medium", "okta-signals reported device-compliance-change (currentStatus not-compliant)", {"currentStatus": "not-compliant"})

test_the_identity_provider_disabling_the_account_quarantines if {
	codes(risk.quarantine) == {"AccountDisabled"} with input as run([disabled], [passed_document])
	codes(risk.quarantine) == {"AccountDisabled"} with input as run([hijacked], [passed_document])
	some r in risk.quarantine with input as run([hijacked], [passed_document])
	r.weight >= 6
	r.msg == "okta-signals reported account-disabled (reason hijacking) (transmitter https://example.okta.com) (risk +6; high risk 6 reaches the quarantine threshold 6)"
}

test_a_compromised_credential_alone_does_not_quarantine if {
	count(risk.quarantine) == 0 with input as run([compromised], [passed_document])
	[s.weight | some s in risk.signals] == [3] with input as run([compromised], [passed_document])
	some r in risk.risk with input as run([compromised], [passed_document])
	r.code == "CredentialCompromise"
	contains(r.msg, "credential-compromise (credentialType password) (transmitter https://example.okta.com)")
}

# Honest people use commercial VPNs; a leaked password with one is not a takeover.
test_a_compromised_credential_with_a_commercial_vpn_does_not_quarantine if {
	count(risk.quarantine) == 0 with input as run([compromised, anon("vpn", 64513)], [passed_document])
}

test_a_compromised_credential_with_a_hosting_provider_or_tor_quarantines if {
	codes(risk.quarantine) == {"CredentialCompromise", "HostingProvider"} with input as run([compromised, anon("hosting", 64513)], [passed_document])
	codes(risk.quarantine) == {"CredentialCompromise", "TorExit"} with input as run([compromised, anon("tor", 64513)], [passed_document])
}

test_a_noncompliant_device_weighs_little if {
	count(risk.quarantine) == 0 with input as run([noncompliant], [passed_document])
	[s.weight | some s in risk.signals] == [2] with input as run([noncompliant], [passed_document])
	count(risk.quarantine) == 0 with input as run([noncompliant, anon("vpn", 64513)], [passed_document])
}

test_revoked_sessions_and_other_security_events_never_act if {
	routine := [
		ssf("session-revoked", "Info", "okta-signals reported session-revoked, initiated by user", {}),
		ssf("security-event", "Low", "okta-signals reported credential-change (credentialType password, changeType update)", {}),
		ssf("security-event", "Info", "okta-signals reported identifier-changed", {}),
	]
	count(risk.quarantine) == 0 with input as run(array.concat(routine, [compromised]), [passed_document])
	count(risk.risk) == 0 with input as run(routine, [passed_document])
	count(risk.quarantine) == 0 with input as run(array.concat(routine, [noncompliant, anon("vpn", 64513)]), [passed_document])
}

test_a_hand_written_shared_signals_finding_names_its_source if {
	some r in risk.quarantine with input as run([{"spec": {"type": "account-disabled", "source": "okta-admin", "severity": "High"}}], [passed_document])
	startswith(r.msg, "okta-admin reported the contractor's account disabled (risk +6")
}
