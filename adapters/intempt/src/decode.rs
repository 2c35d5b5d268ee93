//! An Intempt request → one [`RecordConsent`].
//!
//! The body is read as a JSON object and each field is checked by hand, so a
//! missing or malformed field is reported under the name Intempt gives it.
//! Checks run in the schema's order (`action`, `timestamp`, `validUntil`,
//! `source`, then the optional fields) and the first problem is reported.

use consent_adapter::fields::{Body, Object};
use consent_adapter::{Decoded, Failure, Request};
use consent_core::validate::MAX_CLOCK_SKEW_MICROS;
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};
use serde_json::{Map, Value};

use crate::error::{self, WORDING};
use crate::field::{ACTION, CATEGORY, EMAIL, MESSAGE, PROFILE_ID, SOURCE, TIMESTAMP, USER_ID, VALID_UNTIL};
use crate::model::{Action, ConsentBody};

/// The fields with a meaning of their own; every other field the client sends
/// (`sourceId`, `reason`, `deviceInfo`, …) is kept as evidence metadata.
pub(crate) const KNOWN_FIELDS: [&str; 9] =
    [ACTION, TIMESTAMP, VALID_UNTIL, SOURCE, CATEGORY, USER_ID, EMAIL, PROFILE_ID, MESSAGE];

/// The identity fields, with the consentd namespace each maps to, in the
/// order identities are listed (the first names a new subject).
pub(crate) const IDENTITY_FIELDS: [(&str, &str); 3] =
    [(USER_ID, "user_id"), (EMAIL, "email"), (PROFILE_ID, "profile_id")];

/// Epoch values below this are seconds, not milliseconds: Intempt documents
/// milliseconds but its server SDKs send seconds. 10^11 ms is 1973-03-03 and
/// 10^11 s is the year 5138, so the two ranges cannot be confused in practice.
pub(crate) const SECONDS_BELOW: i64 = 100_000_000_000;

/// 9999-12-31T23:59:59.999999Z, the last instant `google.protobuf.Timestamp`
/// (and so every consentd client) accepts.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

const EPOCH_DETAIL: &str = "must be epoch milliseconds, as a number or a numeric string";
const NEGATIVE_DETAIL: &str = "must not be negative";
const RANGE_DETAIL: &str = "is out of range";

/// The identity namespace of a record whose body names no user: Intempt's
/// own server accepts such a body, and so does Secure Privacy's anonymous
/// visitor (the same namespace).
pub(crate) const ANONYMOUS_NAMESPACE: &str = "anonymous_id";

/// The path parameters naming Intempt's organization and project.
pub(crate) const ORG_NAME: &str = "orgName";
/// See [`ORG_NAME`].
pub(crate) const PROJECT_NAME: &str = "projectName";

/// Decodes a request to either route; `vendor` is the adapter's name.
pub(crate) fn decode(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    let account = account(request)?;
    let body = Body::parse(request.body, &WORDING)?;
    let body = body.root();

    let decision = action(&body)?;
    let timestamp = body.required(TIMESTAMP)?;
    let client_time = epoch(timestamp).map_err(|detail| error::invalid_required(TIMESTAMP, detail))?;
    let expires_at = valid_until(body.required(VALID_UNTIL)?)?;
    let source = source(body.required(SOURCE)?)?;
    let purpose = optional_text(&body, CATEGORY)?.unwrap_or_default();
    let identities = identities(&body, request)?;
    let message = optional_text(&body, MESSAGE)?.unwrap_or_default();

    // Intempt's own server takes its clock for a time beyond the clock skew
    // allowance rather than refuse the call; so does this one, and the
    // client's value stays in the evidence.
    let substituted = client_time > request.received_at.saturating_add_micros(MAX_CLOCK_SKEW_MICROS);
    let collected_at = if substituted { request.received_at } else { client_time };
    let metadata_json = metadata(body.map(), substituted.then_some(timestamp));
    let mut evidence = Evidence { message, metadata_json, ..Evidence::default() };
    request.evidence.fill(&mut evidence, vendor);

    let record = RecordConsent {
        identities,
        decisions: vec![PurposeDecision::stated(purpose, String::new(), decision)],
        collected_at: Some(collected_at),
        expires_at,
        source,
        evidence,
        idempotency_key: String::new(),
    };
    Ok(Decoded::write(Some(account), vec![record]))
}

/// `<orgName>/<projectName>`, the external id a tenant binds.
fn account(request: &Request<'_>) -> Result<String, Failure> {
    // A '/' inside a (percent-decoded) segment would let two different
    // org/project pairs name the same account.
    let param = |name| {
        request
            .path_param(name)
            .filter(|value| !value.is_empty() && !value.contains('/'))
            .ok_or_else(|| error::path_param(name))
    };
    Ok(format!("{}/{}", param(ORG_NAME)?, param(PROJECT_NAME)?))
}

fn action(body: &Object<'_>) -> Result<Decision, Failure> {
    let value = body.required(ACTION)?;
    match value.as_str().and_then(Action::from_name) {
        Some(Action::Accept) => Ok(Decision::Granted),
        Some(Action::Reject) => Ok(Decision::Denied),
        None => Err(error::invalid_required(ACTION, "must be \"accept\" or \"reject\"")),
    }
}

fn valid_until(value: &Value) -> Result<Option<Timestamp>, Failure> {
    if value.as_str().is_some_and(|text| text.trim().eq_ignore_ascii_case(ConsentBody::UNLIMITED)) {
        return Ok(None);
    }
    epoch(value).map(Some).map_err(|detail| {
        let detail = if detail == EPOCH_DETAIL {
            "must be epoch milliseconds (a number or a numeric string) or \"unlimited\""
        } else {
            detail
        };
        error::invalid_required(VALID_UNTIL, detail)
    })
}

fn source(value: &Value) -> Result<String, Failure> {
    match value.as_str() {
        Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
        Some(_) => Err(error::invalid_required(SOURCE, "must not be empty")),
        None => Err(error::invalid_required(SOURCE, "must be a string")),
    }
}

/// An optional string field; absent, `null` and `""` are all "not given".
fn optional_text(body: &Object<'_>, field: &str) -> Result<Option<String>, Failure> {
    Ok(body.optional_str(field)?.filter(|text| !text.is_empty()).map(str::to_owned))
}

/// `userId`, `email`, `profileId`, in that order; with none, an identity of
/// its own minted from the request's fresh id (each such call is a new
/// anonymous subject).
fn identities(body: &Object<'_>, request: &Request<'_>) -> Result<Vec<Identity>, Failure> {
    let mut identities = Vec::with_capacity(IDENTITY_FIELDS.len());
    for (field, namespace) in IDENTITY_FIELDS {
        if let Some(value) = optional_text(body, field)? {
            identities.push(Identity::new(namespace, value));
        }
    }
    if identities.is_empty() {
        identities.push(Identity::new(ANONYMOUS_NAMESPACE, request.fresh_id.to_string()));
    }
    Ok(identities)
}

/// Every field without a meaning of its own, and the client's `timestamp`
/// when the server's clock replaced it, as a JSON object (keys sorted);
/// empty when there is none.
fn metadata(body: &Map<String, Value>, replaced_timestamp: Option<&Value>) -> String {
    let mut extra: Map<String, Value> = body
        .iter()
        .filter(|(key, _)| !KNOWN_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(timestamp) = replaced_timestamp {
        extra.insert(TIMESTAMP.to_owned(), timestamp.clone());
    }
    if extra.is_empty() { String::new() } else { Value::Object(extra).to_string() }
}

/// An epoch time as a JSON number or a numeric string: milliseconds, or
/// seconds below [`SECONDS_BELOW`]. Fractions are kept to the microsecond.
pub(crate) fn epoch(value: &Value) -> Result<Timestamp, &'static str> {
    match value {
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                from_int(int)
            } else if number.as_u64().is_some() {
                Err(RANGE_DETAIL)
            } else {
                number.as_f64().map_or(Err(EPOCH_DETAIL), from_float)
            }
        }
        Value::String(text) => from_text(text.trim()),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(EPOCH_DETAIL),
    }
}

/// Decimal digits with an optional fraction and sign: `1769518152000`,
/// `1769518152.25`. No exponents, `inf` or `NaN`.
fn from_text(text: &str) -> Result<Timestamp, &'static str> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, fraction) = match unsigned.split_once('.') {
        Some((int_part, fraction)) => (int_part, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || !fraction.is_none_or(digits) {
        return Err(EPOCH_DETAIL);
    }
    if negative {
        return Err(NEGATIVE_DETAIL);
    }
    match fraction {
        None => int_part.parse::<i64>().map_err(|_| RANGE_DETAIL).and_then(from_int),
        Some(_) => unsigned.parse::<f64>().map_err(|_| EPOCH_DETAIL).and_then(from_float),
    }
}

fn from_int(value: i64) -> Result<Timestamp, &'static str> {
    if value < 0 {
        return Err(NEGATIVE_DETAIL);
    }
    let micros = if value < SECONDS_BELOW { value * 1_000_000 } else { value.saturating_mul(1_000) };
    if micros > MAX_MICROS {
        return Err(RANGE_DETAIL);
    }
    Ok(Timestamp::from_micros(micros))
}

fn from_float(value: f64) -> Result<Timestamp, &'static str> {
    if !value.is_finite() {
        return Err(EPOCH_DETAIL);
    }
    if value < 0.0 {
        return Err(NEGATIVE_DETAIL);
    }
    // 10^11 is exact in an f64; the cast back saturates, so the range check
    // on the integer is exact.
    let scaled = if value < SECONDS_BELOW as f64 { value * 1e6 } else { value * 1e3 };
    let micros = scaled.round() as i64;
    if micros > MAX_MICROS {
        return Err(RANGE_DETAIL);
    }
    Ok(Timestamp::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(value: Value) -> Result<i64, &'static str> {
        epoch(&value).map(Timestamp::as_micros)
    }

    #[test]
    fn milliseconds_and_seconds_are_told_apart_at_ten_to_the_eleven() {
        assert_eq!(micros(Value::from(1_769_518_152_000_i64)), Ok(1_769_518_152_000_000));
        assert_eq!(micros(Value::from(1_769_518_152_i64)), Ok(1_769_518_152_000_000));
        assert_eq!(micros(Value::from(SECONDS_BELOW - 1)), Ok((SECONDS_BELOW - 1) * 1_000_000));
        assert_eq!(micros(Value::from(SECONDS_BELOW)), Ok(SECONDS_BELOW * 1_000));
        assert_eq!(micros(Value::from("1769518152000")), Ok(1_769_518_152_000_000));
        assert_eq!(micros(Value::from(" 1769518152 ")), Ok(1_769_518_152_000_000));
    }

    #[test]
    fn fractions_keep_microseconds() {
        assert_eq!(micros(Value::from(1_769_518_152.25)), Ok(1_769_518_152_250_000));
        assert_eq!(micros(Value::from("1769518152000.5")), Ok(1_769_518_152_000_500));
    }

    #[test]
    fn nonsense_is_rejected() {
        for bad in ["", "abc", "1e12", "NaN", "inf", "12.", ".5", "+5", "0x10", "1 2"] {
            assert_eq!(micros(Value::from(bad)), Err(EPOCH_DETAIL), "{bad:?}");
        }
        assert_eq!(micros(Value::from(-1)), Err(NEGATIVE_DETAIL));
        assert_eq!(micros(Value::from("-1")), Err(NEGATIVE_DETAIL));
        assert_eq!(micros(Value::from(-1.5)), Err(NEGATIVE_DETAIL));
        assert_eq!(micros(Value::from(u64::MAX)), Err(RANGE_DETAIL));
        assert_eq!(micros(Value::from(i64::MAX)), Err(RANGE_DETAIL));
        assert_eq!(micros(Value::from("99999999999999999999999")), Err(RANGE_DETAIL));
        assert_eq!(micros(Value::from(1e300)), Err(RANGE_DETAIL));
        assert_eq!(micros(Value::from(true)), Err(EPOCH_DETAIL));
    }

    #[test]
    fn the_last_representable_millisecond_is_accepted() {
        assert_eq!(micros(Value::from(253_402_300_799_999_i64)), Ok(253_402_300_799_999_000));
        assert_eq!(micros(Value::from(253_402_300_800_000_i64)), Err(RANGE_DETAIL));
    }
}
