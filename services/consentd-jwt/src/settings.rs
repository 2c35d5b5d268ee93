//! The `[auth.jwt]` table.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[auth.jwt]` settings: whose tokens are accepted, where their keys are
/// published, and which claims carry the tenant and the scopes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The `iss` every token must carry, compared exactly.
    pub issuer: String,
    /// A value the token's `aud` (a string or an array of strings) must hold.
    pub audience: String,
    /// A JWKS document on disk. Exactly one of this and `jwks_url` is set.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS document served over HTTP(S). Exactly one of this and
    /// `jwks_file` is set.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim naming the tenant: a non-empty string, required.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// The claim holding the scopes: a space-separated string as in OAuth 2.0
    /// (an array of strings is accepted too); absent means no scopes.
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// How often, in seconds, the JWKS is read again (and so how long a key
    /// removed from it may still be accepted).
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
}

fn default_tenant_claim() -> String {
    "tenant".to_owned()
}

fn default_scopes_claim() -> String {
    "scope".to_owned()
}

const fn default_refresh_seconds() -> u64 {
    60
}

impl JwtSettings {
    /// Settings with the given issuer, audience and key file, and the
    /// defaults for everything else.
    pub fn with_file(issuer: &str, audience: &str, jwks_file: impl Into<PathBuf>) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_file: Some(jwks_file.into()),
            jwks_url: None,
            tenant_claim: default_tenant_claim(),
            scopes_claim: default_scopes_claim(),
            refresh_seconds: default_refresh_seconds(),
        }
    }

    /// Settings with the given issuer, audience and key URL, and the
    /// defaults for everything else.
    pub fn with_url(issuer: &str, audience: &str, jwks_url: &str) -> Self {
        Self {
            jwks_file: None,
            jwks_url: Some(jwks_url.to_owned()),
            ..Self::with_file(issuer, audience, PathBuf::new())
        }
    }

    /// Why these settings cannot work, if they cannot: exactly one of
    /// `jwks_file` and `jwks_url`, a non-empty issuer and audience, an
    /// http(s) URL with a host, non-empty claim names, and a refresh of at
    /// least one second.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer.trim().is_empty() {
            return Err("auth.jwt.issuer must not be empty".to_owned());
        }
        if self.audience.trim().is_empty() {
            return Err("auth.jwt.audience must not be empty".to_owned());
        }
        match (&self.jwks_file, &self.jwks_url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err("auth.jwt needs exactly one of jwks_file and jwks_url".to_owned());
            }
            (Some(file), None) if file.as_os_str().is_empty() => {
                return Err("auth.jwt.jwks_file must not be empty".to_owned());
            }
            (None, Some(url)) => check_url(url)?,
            (Some(_), None) => {}
        }
        if self.tenant_claim.is_empty() || self.scopes_claim.is_empty() {
            return Err("auth.jwt.tenant_claim and scopes_claim must not be empty".to_owned());
        }
        if self.refresh_seconds == 0 {
            return Err("auth.jwt.refresh_seconds must be at least 1".to_owned());
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("auth.jwt.jwks_url is not a URL: {err}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("auth.jwt.jwks_url must be an http or https URL".to_owned());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("auth.jwt.jwks_url has no host".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JwtSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let settings = parse(
            r#"
            issuer = "https://idp.example"
            audience = "consentd"
            jwks_file = "/etc/consentd/jwks.json"
            "#,
        )
        .unwrap();
        assert_eq!(
            settings,
            JwtSettings::with_file("https://idp.example", "consentd", "/etc/consentd/jwks.json")
        );
        assert_eq!(settings.tenant_claim, "tenant");
        assert_eq!(settings.scopes_claim, "scope");
        assert_eq!(settings.refresh_seconds, 60);
        settings.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse(
            r#"
            issuer = "i"
            audience = "a"
            jwks_file = "k.json"
            algorithms = ["HS256"]
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("algorithms"), "{err}");
    }

    #[test]
    fn exactly_one_key_source() {
        let mut both = JwtSettings::with_file("i", "a", "k.json");
        both.jwks_url = Some("https://idp.example/jwks".to_owned());
        assert!(both.validate().is_err());

        let mut neither = both;
        neither.jwks_file = None;
        neither.jwks_url = None;
        assert!(neither.validate().is_err());

        JwtSettings::with_url("i", "a", "https://idp.example/jwks").validate().unwrap();
        JwtSettings::with_url("i", "a", "http://127.0.0.1:8080/jwks").validate().unwrap();
    }

    #[test]
    fn refuses_empty_names_and_odd_urls() {
        assert!(JwtSettings::with_file("", "a", "k.json").validate().is_err());
        assert!(JwtSettings::with_file("i", " ", "k.json").validate().is_err());
        assert!(JwtSettings::with_file("i", "a", "").validate().is_err());
        for url in ["ftp://idp.example/jwks", "file:///etc/jwks.json", "not a url"] {
            assert!(JwtSettings::with_url("i", "a", url).validate().is_err(), "{url}");
        }
        let mut no_tenant = JwtSettings::with_file("i", "a", "k.json");
        no_tenant.tenant_claim.clear();
        assert!(no_tenant.validate().is_err());
        let mut never = JwtSettings::with_file("i", "a", "k.json");
        never.refresh_seconds = 0;
        assert!(never.validate().is_err());
    }
}
