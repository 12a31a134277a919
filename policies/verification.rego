# Identity verification: the contractor must be who they claim to be. A
# failed or revoked check, or a verification vendor's Critical verdict,
# revokes; a required check left pending past its grace period quarantines.
# Weaker identity signals (an expired check, a foreign document, a missing
# check) add to the risk score (risk.rego).
package portcullis.policies.verification

revoke contains reason if {
	some check in input.contractor.spec.verificationChecks
	check.result in {"Failed", "Revoked"}
	not retried(check)
	reason := {
		"msg": sprintf("identity check %s (%s) is %s", [check.type, provider(check), lower(check.result)]),
		"code": "VerificationFailed",
		"severity": "Critical",
	}
}

revoke contains reason if {
	some f in input.findings
	f.spec.type == "verification"
	f.spec.severity == "Critical"
	reason := {
		"msg": sprintf("verification vendor %s reports: %s", [f.spec.source, summary(f)]),
		"code": "VerificationFraud",
		"severity": "Critical",
	}
}

quarantine contains reason if {
	some check in input.contractor.spec.verificationChecks
	check.required
	check.result == "Pending"
	hours := hours_since(pending_since(check))
	hours > data.portcullis.verification.pending_grace_hours
	reason := {
		"msg": sprintf("required identity check %s has been pending for %d hours (grace period %d hours)", [check.type, hours, data.portcullis.verification.pending_grace_hours]),
		"code": "VerificationPending",
		"severity": "Medium",
	}
}

# retried holds when a later check of the same type passed: a document
# photo refused for glare and accepted a minute later is no failure. A
# revoked check is never retried away.
retried(check) if {
	check.result == "Failed"
	some later in input.contractor.spec.verificationChecks
	later.type == check.type
	later.result == "Passed"
	time.parse_rfc3339_ns(later.completedAt) > time.parse_rfc3339_ns(check.completedAt)
}

provider(check) := check.provider

provider(check) := "unknown provider" if not check.provider

summary(f) := f.spec.summary

summary(f) := "no summary" if not f.spec.summary

pending_since(check) := check.requestedAt

pending_since(check) := input.contractor.metadata.creationTimestamp if not check.requestedAt

hours_since(ts) := floor((input.now_ns - time.parse_rfc3339_ns(ts)) / 3600000000000)
