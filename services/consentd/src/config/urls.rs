//! Database URLs and secrets: which URLs are accepted, and how they are
//! shown with their credentials redacted.

use super::ConfigError;

/// Checks that a database URL names a supported backend.
pub fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    let pasted_back = url::Url::parse(url).is_ok_and(|parsed| {
        parsed.password().is_some_and(is_placeholder)
            || parsed
                .query_pairs()
                .any(|(key, value)| PASSWORD_PARAMETERS.contains(&key.as_ref()) && is_placeholder(&value))
    });
    if pasted_back {
        return Err(ConfigError::Invalid {
            setting: "database_url",
            message: "holds the password placeholder `config print` shows, not the password".to_owned(),
        });
    }
    if ["sqlite:", "postgres://", "postgresql://"].iter().any(|scheme| url.starts_with(scheme)) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            setting: "database_url",
            message: "must start with sqlite:, postgres:// or postgresql://".to_owned(),
        })
    }
}

/// Checks a read standby's URL: PostgreSQL, beside a PostgreSQL primary.
pub(super) fn validate_read_database_url(primary: &str, url: &str) -> Result<(), ConfigError> {
    let invalid =
        |message: &str| ConfigError::Invalid { setting: "read_database_url", message: message.to_owned() };
    validate_database_url(url).map_err(|_| invalid("must be a postgres:// URL"))?;
    if !url.starts_with("postgres") {
        return Err(invalid("must be a postgres:// URL"));
    }
    if !primary.starts_with("postgres") {
        return Err(invalid("read standbys need a PostgreSQL database_url"));
    }
    Ok(())
}

/// What [`redact_url`] puts where a password was, and `config print` where
/// the key secret is; refused when read back as a setting.
pub(super) const REDACTED: &str = "<redacted>";

/// Query parameters the database drivers read a password from.
pub(super) const PASSWORD_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// The URL with any password (in the user info or the query) replaced, for
/// logs and `config print`. A URL that does not parse is hidden whole.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return REDACTED.to_owned();
    };
    if url.password().is_some() && url.set_password(Some(REDACTED)).is_err() {
        return REDACTED.to_owned();
    }
    if url.query_pairs().any(|(key, _)| PASSWORD_PARAMETERS.contains(&key.as_ref())) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if PASSWORD_PARAMETERS.contains(&key.as_ref()) { REDACTED.into() } else { value };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Whether a value is a redaction placeholder pasted back from `config
/// print` (as itself or percent-encoded in a URL).
pub(super) fn is_placeholder(value: &str) -> bool {
    value == REDACTED || value == "%3Credacted%3E"
}

/// A key secret copied from `config print` would become the real secret and
/// invalidate every key: refused.
pub(super) fn validate_key_secret(secret: Option<&str>) -> Result<(), ConfigError> {
    if secret.is_some_and(is_placeholder) {
        return Err(ConfigError::Invalid {
            setting: "key_secret",
            message: "is the placeholder `config print` shows, not the secret".to_owned(),
        });
    }
    Ok(())
}
