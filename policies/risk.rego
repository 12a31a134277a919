# Risk: weak evidence adds up. Each signal (a sign-in from another country,
# an anonymizer, a shared device, a remote-access tool, off hours, pay or
# equipment sent elsewhere, ...) contributes a weight from
# data.portcullis.risk.weights; a contractor whose contributions reach
# risk.quarantine_at is quarantined, and risk.revoke_at revokes. Every
# contribution is a reason of its own, with its weight and the threshold,
# so the grant says why, and an exception that sets one contribution aside
# takes its weight out of the score.

# METADATA
# title: Risk
# description: Weak evidence adds up to a risk score that quarantines at risk.quarantine_at and revokes at risk.revoke_at.
# scope: package
# schemas:
#   - input: schema.input
package portcullis.policies.risk

claimed := input.contractor.spec.claimedLocation.country

# model is the risk model's data: weights, thresholds and levels.
model := data.portcullis.risk

# contributions maps each signal code to its weight and explanation: the
# heaviest instance of a code counts, once.
contributions[code] := best if {
	some code in {s.code | some s in signals}
	instances := [s | some s in signals; s.code == code]
	weights := [s.weight | some s in instances]
	best := [s | some s in instances; s.weight == max(weights)][0]
}

total := sum([c.weight | some c in contributions])

level := "critical" if total >= model.levels.critical

level := "high" if {
	total >= model.levels.high
	total < model.levels.critical
}

level := "medium" if {
	total >= model.levels.medium
	total < model.levels.high
}

level := "low" if total < model.levels.medium

# Every signal contributes to the contractor's risk, which the grant and
# the contractor show whether or not it reaches a threshold: the engine
# counts the heaviest instance of each code left after the exceptions, and
# bands the score by risk.levels. A signal is a contribution as it is: its
# code, weight, msg and evidence, and nothing else.
risk contains s if {
	some s in signals
	s.weight > 0
}

# Every instance of a signal is a reason, with the evidence it rests on:
# an exception limited to evidence sets aside only the instances it names,
# and the engine counts the heaviest instance of each code left.
quarantine contains reason if {
	total >= model.quarantine_at
	some s in signals
	s.weight > 0
	reason := explain(s, "quarantine", model.quarantine_at)
}

revoke contains reason if {
	model.revoke_at > 0
	total >= model.revoke_at
	some s in signals
	s.weight > 0
	reason := explain(s, "revocation", model.revoke_at)
}

explain(s, what, threshold) := object.union(
	{
		"msg": sprintf("%s (risk +%d; %s risk %d reaches the %s threshold %d)", [s.msg, s.weight, level, total, what, threshold]),
		"code": s.code,
		"severity": severity(s.weight),
		"weight": s.weight,
		"threshold": threshold,
	},
	object.filter(s, ["evidence"]),
)

# A contribution is never Critical: Critical is for definitive evidence
# (geolocation.rego, verification.rego), which the blast-radius guard lets
# through first.
severity(w) := "High" if w >= 4

severity(w) := "Medium" if {
	w >= 2
	w < 4
}

severity(w) := "Low" if w < 2

# signal builds a contribution from a finding, with its evidence;
# Low-severity evidence counts at most 1.
signal(code, f, msg) := {"code": code, "weight": weigh(model.weights[code], f), "msg": msg, "evidence": evidence_of(f)}

# evidence_of is what exceptions limited to evidence match against.
evidence_of(f) := {k: v |
	some k in ["ip", "deviceID", "country", "relatedContractors"]
	v := f.spec.evidence[k]
}

weigh(w, f) := min([w, 1]) if f.spec.severity == "Low"

weigh(w, f) := w if not f.spec.severity == "Low"

# Where the contractor is.

# A sign-in from another country. Satellite internet is placed wherever
# its ground station is, so it counts for little; and a country the
# contractor's pay or equipment already goes to is one fact, counted there.
signals contains {"code": "CountryMismatch", "weight": weight, "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "geolocation"
	country := f.spec.evidence.country
	country != claimed
	not country in data.portcullis.sanctioned_countries
	not country in records_elsewhere
	not corporate_egress(f)
	some at in uncovered(country, f)
	weight := mismatch_weight(f)
	msg := sprintf("signed in from %s at %s while claiming %s, with no travel notice%s", [country, at, claimed, satellite_note(f)])
}

# uncovered are the ends of a finding's evidence (firstSeen, lastSeen) that
# no travel notice for country covers: the ingester observes a country once
# a week, so the ends are the times to judge.
uncovered(country, f) := {t |
	some t in {start_time(f), seen_at(f)}
	not travelling(country, t)
}

# records_elsewhere are the countries the contractor's pay and equipment go to.
records_elsewhere contains c if {
	some key in ["equipmentShippingCountry", "payoutCountry"]
	c := input.contractor.spec[key]
}

mismatch_weight(f) := min([weigh(model.weights.CountryMismatch, f), model.weights.SatelliteMismatch]) if satellite(f)

mismatch_weight(f) := weigh(model.weights.CountryMismatch, f) if not satellite(f)

satellite(f) if f.spec.evidence.asn in data.portcullis.satellite_asns

satellite_note(f) := " (satellite internet, placed by its ground station)" if satellite(f)

satellite_note(f) := "" if not satellite(f)

# Impossible travel, unless an end is corporate egress or satellite
# internet, a travel notice covers an end, or the trip is short enough to
# be geolocation error (travel.min_impossible_km).
signals contains signal("ImpossibleTravel", f, msg) if {
	some f in input.findings
	f.spec.type == "impossible-travel"
	not corporate_egress(f)
	not satellite(f)
	from_asn := to_number(object.get(f.spec.evidence, ["details", "fromASN"], "0"))
	not from_asn in data.portcullis.corporate_egress_asns
	not from_asn in data.portcullis.satellite_asns
	to_number(object.get(f.spec.evidence, ["details", "distanceKM"], "100000")) >= data.portcullis.travel.min_impossible_km
	too_fast(f)
	not travelling(f.spec.evidence.country, seen_at(f))
	not travelling(f.spec.evidence.details.fromCountry, seen_at(f))
	msg := sprintf("impossible travel: %s", [summary(f)])
}

# too_fast holds for travel faster than travel.max_speed_kmh, the speed the
# ingester observes from; travel at no recorded speed (reported by another
# source, or two sign-ins at once) is too fast.
too_fast(f) if to_number(f.spec.evidence.details.speedKMH) > data.portcullis.travel.max_speed_kmh

too_fast(f) if not f.spec.evidence.details.speedKMH

# The client's own time zone, as the sign-in reported it, hours away from
# the claimed one, outside any travel notice. Only zones listed in
# data.portcullis.timezones count.
signals contains signal("ClientTimezoneMismatch", f, msg) if {
	some f in input.findings
	f.spec.source == "portcullis-ingester"
	zone := f.spec.evidence.details.timezone
	far_zone(zone)
	not travelling_anywhere(seen_at(f))
	msg := sprintf("the client reported time zone %s while claiming %s", [zone, input.contractor.spec.claimedLocation.timezone])
}

# The same from the recent sign-ins themselves, each at its own time: a
# client far from the claimed zone shows even when nothing else about its
# sign-ins raised a finding.
signals contains {"code": "ClientTimezoneMismatch", "weight": model.weights.ClientTimezoneMismatch, "msg": msg, "evidence": object.filter(s, ["ip", "deviceID"])} if {
	some s in input.signins.recent
	far_zone(s.timezone)
	not travelling_anywhere(s.time)
	msg := sprintf("the client reported time zone %s at %s while claiming %s", [s.timezone, s.time, input.contractor.spec.claimedLocation.timezone])
}

# A client set to a time zone or locale that only a comprehensively
# sanctioned country uses (sanctioned_client_settings: Asia/Pyongyang,
# ko-KP): not proof of where the client is, so it weighs as much as a
# shared device rather than revoking, but no one else sets them.
signals contains {"code": "SanctionedClientSettings", "weight": model.weights.SanctionedClientSettings, "msg": msg, "evidence": object.filter(s, ["ip", "deviceID"])} if {
	some s in input.signins.recent
	some setting in sanctioned_settings(s)
	msg := sprintf("a client (device %s) reported %s at %s", [object.get(s, "deviceID", "unnamed"), setting, s.time])
}

sanctioned_settings(s) := {sprintf("time zone %s", [s.timezone]) | s.timezone in data.portcullis.sanctioned_client_settings.timezones} | {sprintf("locale %s", [s.locale]) | s.locale in data.portcullis.sanctioned_client_settings.locales}

# far_zone holds for a time zone at least risk.timezone_hours from the
# claimed one; only zones listed in data.portcullis.timezones count.
far_zone(zone) if {
	own := input.contractor.spec.claimedLocation.timezone
	abs(data.portcullis.timezones[zone] - data.portcullis.timezones[own]) >= model.timezone_hours
}

# Travel notices for one country that add up to more than
# travel.max_days within 90 days either side of now: working from there,
# not visiting.
signals contains {"code": "ExtendedTravel", "weight": model.weights.ExtendedTravel, "msg": msg} if {
	some country in {n.country | some n in input.contractor.spec.travelNotices}
	days := sum([notice_days(n) | some n in input.contractor.spec.travelNotices; n.country == country])
	days > data.portcullis.travel.max_days
	msg := sprintf("travel notices for %s cover %d days within 90 days of now (more than %d)", [country, days, data.portcullis.travel.max_days])
}

# notice_days counts the days of a notice within 90 days either side of now.
notice_days(n) := max([0, round((min([time.parse_rfc3339_ns(n.until), input.now_ns + days90]) - max([time.parse_rfc3339_ns(n.from), input.now_ns - days90])) / 86400000000000)])

days90 := 90 * 86400000000000

# How they hide.

kinds := {
	"vpn": {"code": "CommercialVPN", "what": "a commercial VPN"},
	"hosting": {"code": "HostingProvider", "what": "a hosting provider"},
	"public-proxy": {"code": "PublicProxy", "what": "a public proxy"},
	"residential-proxy": {"code": "ResidentialProxy", "what": "a residential proxy"},
	"tor": {"code": "TorExit", "what": "a Tor exit node"},
}

signals contains signal(kind.code, f, msg) if {
	some f in input.findings
	anonymized(f)
	kind := kinds[f.spec.anonymizerKind]
	msg := sprintf("signed in through %s from %s", [kind.what, ip(f)])
}

signals contains signal("HostingProvider", f, msg) if {
	some f in input.findings
	f.spec.type != "anonymizer"
	f.spec.evidence.asn in data.portcullis.hosting_asns
	not corporate_egress(f)
	msg := sprintf("activity from hosting provider AS%d (%s)", [f.spec.evidence.asn, ip(f)])
}

# An anonymizer and a sign-in from another country, close in time and
# outside a travel notice: the pattern of someone hiding where they are.
signals contains signal("AnonymizerWithCountryMismatch", g, msg) if {
	some f in input.findings
	anonymized(f)
	some sighting in foreign_sightings
	g := sighting.finding
	close_in_time([start_ns(f), end_ns(f)], sighting.span)
	msg := sprintf("hid behind %s within %d hours of a sign-in from %s", [kinds[f.spec.anonymizerKind].what, data.portcullis.pairing_window_hours, g.spec.evidence.country])
}

# foreign_sightings are the sign-ins from another country, not through
# corporate egress, with an end that no travel notice covers, and their
# spans: worked out once, and paired with each anonymizer above.
foreign_sightings contains {"finding": g, "span": [start_ns(g), end_ns(g)]} if {
	some g in input.findings
	g.spec.type == "geolocation"
	g.spec.evidence.country != claimed
	not corporate_egress(g)
	count(uncovered(g.spec.evidence.country, g)) > 0
}

signals contains {"code": "AnonymizerWithUnverifiedIdentity", "weight": model.weights.AnonymizerWithUnverifiedIdentity, "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	anonymized(f)
	not verified
	msg := sprintf("hides behind %s and has no passed identity document check", [kinds[f.spec.anonymizerKind].what])
}

# Who else is there.

signals contains signal("SharedDevice", f, msg) if {
	some f in input.findings
	f.spec.type == "shared-infrastructure"
	f.spec.evidence.deviceID
	msg := sprintf("device %s is also used by %s", [f.spec.evidence.deviceID, others(f)])
}

signals contains signal("SharedAddress", f, msg) if {
	some f in input.findings
	f.spec.type == "shared-infrastructure"
	not f.spec.evidence.deviceID
	not carrier_nat(f)
	not mobile(f)
	not corporate_egress(f)
	msg := sprintf("address %s is also used by %s", [ip(f), others(f)])
}

# A carrier-grade NAT address (RFC 6598) is shared by strangers by design,
# as are the addresses of mobile carriers (mobile_asns) and the company's
# own egress.
carrier_nat(f) if net.cidr_contains("100.64.0.0/10", f.spec.evidence.ip)

mobile(f) if f.spec.evidence.asn in data.portcullis.mobile_asns

# A remote-access tool or IP-KVM weighs risk.weights.RemoteAccessTool as
# reported (High); a report of another severity weighs as that severity.
signals contains {"code": "RemoteAccessTool", "weight": tool_weight(f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "remote-access-tool"
	msg := sprintf("remote-access tool or IP-KVM in use: %s (from %s)", [tool(f), f.spec.source])
}

tool_weight(f) := model.weights.RemoteAccessTool if object.get(f.spec, "severity", "High") == "High"

tool_weight(f) := model.severity_weights[f.spec.severity] if f.spec.severity != "High"

signals contains signal("OffHours", f, msg) if {
	some f in input.findings
	f.spec.type == "off-hours"
	night_share(f) > data.portcullis.off_hours.fraction
	msg := sprintf("works at night in the claimed time zone: %s", [summary(f)])
}

# What the contractor's own records say.

signals contains {"code": "PayoutElsewhere", "weight": model.weights.PayoutElsewhere, "msg": msg} if {
	country := input.contractor.spec.payoutCountry
	country != claimed
	msg := sprintf("paid to an account in %s while claiming %s", [country, claimed])
}

signals contains {"code": "ShippingElsewhere", "weight": model.weights.ShippingElsewhere, "msg": msg} if {
	country := input.contractor.spec.equipmentShippingCountry
	country != claimed
	msg := sprintf("company equipment shipped to %s while claiming %s", [country, claimed])
}

# Identity checks that are not conclusive on their own.

signals contains {"code": "DocumentCountryMismatch", "weight": model.weights.DocumentCountryMismatch, "msg": msg} if {
	some check in input.contractor.spec.verificationChecks
	check.type == "Document"
	check.documentCountry != claimed
	msg := sprintf("identity document issued by %s, but the contractor claims to live in %s", [check.documentCountry, claimed])
}

signals contains {"code": "VerificationExpired", "weight": model.weights.VerificationExpired, "msg": msg} if {
	some check in input.contractor.spec.verificationChecks
	check.result == "Passed"
	expired(check)
	not renewing(check.type)
	msg := sprintf("identity check %s expired at %s and no renewal is under way", [check.type, check.expiresAt])
}

signals contains {"code": "VerificationMissing", "weight": model.weights.VerificationMissing, "msg": msg} if {
	some required in data.portcullis.verification.required_types
	not has_check(required)
	msg := sprintf("no %s identity check on record", [required])
}

renewing(type) if {
	some check in input.contractor.spec.verificationChecks
	check.type == type
	check.result == "Pending"
}

has_check(type) if {
	some check in input.contractor.spec.verificationChecks
	check.type == type
}

# Evidence that tools and vendors report, weighed by its severity.

signals contains {"code": code, "weight": model.severity_weights[f.spec.severity], "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type in {"custom", "verification"}
	f.spec.severity != "Critical"
	code := {"custom": "ReportedFinding", "verification": "VerificationFinding"}[f.spec.type]
	msg := sprintf("%s finding from %s: %s", [f.spec.type, f.spec.source, summary(f)])
}

# The identity provider's own rating of a sign-in (Okta's risk level,
# Entra's riskLevelDuringSignIn, Google's is_suspicious), which the ingester records
# as a provider-risk Finding with the provider as its source: High weighs
# risk.weights.ProviderRisk, Medium risk.weights.ProviderRiskMedium. Both
# stay below quarantine_at, so the provider's word alone never acts; a
# High rating with a hosting provider or a Tor exit does, with a commercial
# VPN (which is often why the provider rated it) it does not.
signals contains {"code": "ProviderRisk", "weight": provider_weight(f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "provider-risk"
	msg := sprintf("%s rated a sign-in from %s %s risk%s", [f.spec.source, ip(f), lower(f.spec.severity), risk_detail(f)])
}

provider_weight(f) := model.weights.ProviderRisk if f.spec.severity in {"High", "Critical"}

provider_weight(f) := model.weights.ProviderRiskMedium if f.spec.severity == "Medium"

provider_weight(f) := min([1, model.weights.ProviderRiskMedium]) if f.spec.severity == "Low"

provider_weight(f) := 0 if f.spec.severity == "Info"

risk_detail(f) := sprintf(" (%s)", [f.spec.evidence.details.riskDetail]) if f.spec.evidence.details.riskDetail

risk_detail(f) := "" if not f.spec.evidence.details.riskDetail

# What identity providers and EDRs report over OpenID Shared Signals
# (CAEP/RISC), which the SignalStream sink records as Findings with
# "ssf:<stream>" as their source and the transmitter's issuer in
# evidence.details.issuer. The identity provider disabling or purging the
# account weighs risk.weights.AccountDisabled, quarantine_at by itself (a
# takeover, reason hijacking, at least as much as a Critical report); a
# compromised credential risk.weights.CredentialCompromise, which acts only
# with another signal such as a hosting provider, a proxy or a Tor exit (not
# with a commercial VPN, which honest people use too); a device no
# longer compliant risk.weights.DeviceNonCompliant. A revoked session
# (routine: a sign-out does it) and the other events weigh
# risk.weights.SessionRevoked and SecurityEvent, 0 by default: recorded,
# never acting.
signals contains {"code": "AccountDisabled", "weight": weigh(account_disabled_weight(f), f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "account-disabled"
	msg := reported(f, "the contractor's account disabled")
}

account_disabled_weight(f) := max([model.weights.AccountDisabled, model.severity_weights.Critical]) if f.spec.severity == "Critical"

account_disabled_weight(f) := model.weights.AccountDisabled if f.spec.severity != "Critical"

signals contains {"code": "CredentialCompromise", "weight": weigh(model.weights.CredentialCompromise, f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "credential-compromise"
	msg := reported(f, sprintf("a compromised %s of the contractor", [credential(f)]))
}

signals contains {"code": "DeviceNonCompliant", "weight": weigh(model.weights.DeviceNonCompliant, f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "device-noncompliant"
	msg := reported(f, "a device of the contractor not compliant")
}

signals contains {"code": "SessionRevoked", "weight": weigh(object.get(model.weights, "SessionRevoked", 0), f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "session-revoked"
	msg := reported(f, "a session of the contractor revoked")
}

signals contains {"code": "SecurityEvent", "weight": weigh(object.get(model.weights, "SecurityEvent", 0), f), "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "security-event"
	msg := reported(f, "a security event")
}

# reported says what a Shared Signals transmitter reported: the Finding's
# summary ("<stream> reported <event> (<facts>), initiated by <who>:
# <reason>"), else what, and the issuer that signed the SET.
reported(f, what) := sprintf("%s%s", [f.spec.summary, transmitter(f)]) if f.spec.summary

reported(f, what) := sprintf("%s reported %s%s", [f.spec.source, what, transmitter(f)]) if not f.spec.summary

transmitter(f) := sprintf(" (transmitter %s)", [f.spec.evidence.details.issuer]) if f.spec.evidence.details.issuer

transmitter(f) := "" if not f.spec.evidence.details.issuer

credential(f) := f.spec.evidence.details.credentialType

credential(f) := "credential" if not f.spec.evidence.details.credentialType

signals contains {"code": "ReportedFinding", "weight": model.severity_weights.Critical, "msg": msg, "evidence": evidence_of(f)} if {
	some f in input.findings
	f.spec.type == "custom"
	f.spec.severity == "Critical"
	msg := sprintf("custom finding from %s: %s", [f.spec.source, summary(f)])
}

# night_share is the share of sign-ins off hours that an off-hours finding
# reports; one reported without the counts is taken at its word.
night_share(f) := to_number(f.spec.evidence.details.offHours) / to_number(f.spec.evidence.details.signIns) if {
	to_number(f.spec.evidence.details.signIns) > 0
}

night_share(f) := 1 if not f.spec.evidence.details.signIns

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

corporate_egress(f) if f.spec.evidence.asn in data.portcullis.corporate_egress_asns

# travelling holds when a travel notice covers country at time ts, or
# ended less than travel.grace_hours before it: flights home are late.
travelling(country, ts) if {
	some notice in input.contractor.spec.travelNotices
	notice.country == country
	covers(notice, ts)
}

travelling_anywhere(ts) if {
	some notice in input.contractor.spec.travelNotices
	covers(notice, ts)
}

covers(notice, ts) if {
	t := time.parse_rfc3339_ns(ts)
	time.parse_rfc3339_ns(notice.from) <= t
	t <= time.parse_rfc3339_ns(notice.until) + data.portcullis.travel.grace_hours * 3600000000000
}

# close_in_time holds when two findings' spans of evidence ([firstSeen,
# lastSeen] in ns) come within the pairing window of each other.
close_in_time(a, b) if {
	gap := max([0, max([a[0], b[0]]) - min([a[1], b[1]])])
	gap <= data.portcullis.pairing_window_hours * 3600000000000
}

start_ns(f) := time.parse_rfc3339_ns(start_time(f))

start_time(f) := f.spec.firstSeen

start_time(f) := seen_at(f) if not f.spec.firstSeen

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

ip(f) := f.spec.evidence.ip

ip(f) := "an unknown address" if not f.spec.evidence.ip

tool(f) := f.spec.evidence.tool

tool(f) := "unnamed tool" if not f.spec.evidence.tool

others(f) := concat(", ", f.spec.evidence.relatedContractors) if count(f.spec.evidence.relatedContractors) > 0

others(f) := "other contractors" if count(object.get(f.spec.evidence, "relatedContractors", [])) == 0

summary(f) := f.spec.summary

summary(f) := sprintf("reported by %s", [f.spec.source]) if not f.spec.summary
