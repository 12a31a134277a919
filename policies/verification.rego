# Identity verification: the contractor must be who they claim to be. A
# failed or revoked check, or a verification vendor's Critical verdict,
# revokes; a required check left pending past its grace period quarantines.
# Weaker identity signals (an expired check, a foreign document, a missing
# check) add to the risk score (risk.rego).

# METADATA
# title: Identity verification
# description: The contractor must be who they claim to be, as their identity checks and verification vendors say.
# scope: package
# schemas:
#   - input: schema.input
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
	grace := grace_hours(check)
	hours > grace
	reason := {
		"msg": sprintf("required identity check %s has been pending for %d hours (%s grace period %d hours)", [check.type, hours, kind(check), grace]),
		"code": "VerificationPending",
		"severity": "Medium",
	}
}

# A renewal — a pending check of a type that passed before — waits on the
# vendor for a contractor already verified once: it gets the longer
# renewal_grace_hours. A first check gets pending_grace_hours.
renewal(check) if {
	some earlier in input.contractor.spec.verificationChecks
	earlier.type == check.type
	earlier.result == "Passed"
}

grace_hours(check) := data.portcullis.verification.renewal_grace_hours if renewal(check)

grace_hours(check) := data.portcullis.verification.pending_grace_hours if not renewal(check)

kind(check) := "renewal" if renewal(check)

kind(check) := "first-check" if not renewal(check)

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
