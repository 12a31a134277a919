package portcullis.policies.verification_test

import data.portcullis.policies.verification

now := "2026-11-28T12:00:00Z"

passed_document := {"type": "Document", "result": "Passed", "documentCountry": "US", "completedAt": "2026-09-01T00:00:00Z"}

run(checks) := {
	"contractor": {
		"metadata": {"name": "sam", "creationTimestamp": "2026-11-01T00:00:00Z"},
		"spec": {"claimedLocation": {"country": "US"}, "verificationChecks": checks},
	},
	"now": now,
	"now_ns": time.parse_rfc3339_ns(now),
}

codes(reasons) := {r.code | some r in reasons}

test_passed_document_is_clean if {
	count(verification.revoke) == 0 with input as run([passed_document])
	count(verification.quarantine) == 0 with input as run([passed_document])
}

test_failed_check_revokes if {
	reasons := verification.revoke with input as run([{"type": "Document", "result": "Failed", "provider": "idv", "completedAt": "2026-11-02T00:00:00Z"}])
	codes(reasons) == {"VerificationFailed"}
}

test_revoked_check_revokes if {
	checks := [passed_document, {"type": "BackgroundCheck", "result": "Revoked", "completedAt": "2026-11-02T00:00:00Z"}]
	"VerificationFailed" in codes(verification.revoke) with input as run(checks)
}

test_required_check_pending_past_grace_quarantines if {
	checks := [passed_document, {"type": "BackgroundCheck", "result": "Pending", "required": true, "requestedAt": "2026-11-20T00:00:00Z"}]
	"VerificationPending" in codes(verification.quarantine) with input as run(checks)
}

test_required_check_pending_within_grace_is_fine if {
	checks := [passed_document, {"type": "BackgroundCheck", "result": "Pending", "required": true, "requestedAt": "2026-11-27T00:00:00Z"}]
	count(verification.quarantine) == 0 with input as run(checks)
}

test_pending_since_creation_without_request_time if {
	checks := [passed_document, {"type": "Liveness", "result": "Pending", "required": true}]
	"VerificationPending" in codes(verification.quarantine) with input as run(checks)
}

test_optional_pending_check_is_fine if {
	checks := [passed_document, {"type": "Reference", "result": "Pending", "requestedAt": "2026-10-01T00:00:00Z"}]
	count(verification.quarantine) == 0 with input as run(checks)
}

test_a_vendor_fraud_verdict_revokes if {
	f := {"spec": {"type": "verification", "source": "persona", "severity": "Critical", "summary": "synthetic identity"}}
	codes(verification.revoke) == {"VerificationFraud"} with input as object.union(run([passed_document]), {"findings": [f]})
	weaker := object.union(f, {"spec": {"severity": "High"}})
	count(verification.revoke) == 0 with input as object.union(run([passed_document]), {"findings": [weaker]})
}

test_grace_period_comes_from_data if {
	checks := [passed_document, {"type": "BackgroundCheck", "result": "Pending", "required": true, "requestedAt": "2026-11-27T00:00:00Z"}]
	"VerificationPending" in codes(verification.quarantine) with input as run(checks)
		with data.portcullis.verification.pending_grace_hours as 1
}

test_a_failure_retried_and_passed_is_no_failure if {
	failed := {"type": "Document", "result": "Failed", "completedAt": "2026-10-05T16:12:00Z"}
	passed := {"type": "Document", "result": "Passed", "documentCountry": "US", "completedAt": "2026-10-05T16:31:00Z"}
	count(verification.revoke) == 0 with input as run([failed, passed])
	codes(verification.revoke) == {"VerificationFailed"} with input as run([passed, object.union(failed, {"completedAt": "2026-10-06T00:00:00Z"})])
	revoked := object.union(failed, {"result": "Revoked"})
	codes(verification.revoke) == {"VerificationFailed"} with input as run([revoked, passed])
}

test_a_renewal_gets_the_longer_grace if {
	# Requested eight days before now (2026-11-28): past the 72-hour grace
	# of a first check, within the 14 days of a renewal.
	renewal := {"type": "Document", "result": "Pending", "required": true, "requestedAt": "2026-11-20T00:00:00Z"}
	count(verification.quarantine) == 0 with input as run([passed_document, renewal])
	codes(verification.quarantine) == {"VerificationPending"} with input as run([renewal])
	late := object.union(renewal, {"requestedAt": "2026-11-10T00:00:00Z"})
	some r in verification.quarantine with input as run([passed_document, late])
	contains(r.msg, "renewal grace period 336 hours")
}
