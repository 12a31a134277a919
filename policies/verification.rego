# Identity verification: the contractor must be who they claim to be.
package portcullis.policies.verification

revoke contains reason if {
	some check in input.contractor.spec.verificationChecks
	check.result in {"Failed", "Revoked"}
	reason := {
		"msg": sprintf("identity check %s (%s) is %s", [check.type, provider(check), lower(check.result)]),
		"code": "VerificationFailed",
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

quarantine contains reason if {
	some check in input.contractor.spec.verificationChecks
	check.result == "Passed"
	time.parse_rfc3339_ns(check.expiresAt) <= input.now_ns
	reason := {
		"msg": sprintf("identity check %s expired at %s", [check.type, check.expiresAt]),
		"code": "VerificationExpired",
		"severity": "Medium",
	}
}

quarantine contains reason if {
	some check in input.contractor.spec.verificationChecks
	check.type == "Document"
	check.documentCountry != input.contractor.spec.claimedLocation.country
	reason := {
		"msg": sprintf("identity document issued by %s, but the contractor claims to live in %s", [check.documentCountry, input.contractor.spec.claimedLocation.country]),
		"code": "DocumentCountryMismatch",
		"severity": "High",
	}
}

quarantine contains reason if {
	some required in data.portcullis.verification.required_types
	not has_check(required)
	reason := {
		"msg": sprintf("no %s identity check on record", [required]),
		"code": "VerificationMissing",
		"severity": "Medium",
	}
}

has_check(type) if {
	some check in input.contractor.spec.verificationChecks
	check.type == type
}

provider(check) := check.provider

provider(check) := "unknown provider" if not check.provider

pending_since(check) := check.requestedAt

pending_since(check) := input.contractor.metadata.creationTimestamp if not check.requestedAt

hours_since(ts) := floor((input.now_ns - time.parse_rfc3339_ns(ts)) / 3600000000000)
