//! One delivery attempt: a signed POST to the subscriber, following no
//! redirects, bounded by connect and response timeouts, sent only to an
//! address the policy allows.
//!
//! Signatures follow the Standard Webhooks scheme, so receivers can verify
//! them with its libraries: `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
//! where the key is the subscription's secret `whsec_<base64 key>`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consent_core::ConsentError;
use consent_core::KeyStore;
use consent_core::webhooks::DeliveryOutcome;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::policy::{RefusedAddress, UrlPolicy};
use consentd_auth::{KeyError, server_secret};

/// Bytes of a subscription's signing key.
pub const KEY_BYTES: usize = 32;

/// The prefix of a signing secret, as Standard Webhooks writes it.
const SECRET_PREFIX: &str = "whsec_";

/// Derives subscriptions' signing keys from the server secret, so no key is
/// stored: a copy of the database alone cannot forge deliveries (when the
/// server secret is configured rather than kept in the database).
#[derive(Clone)]
pub struct SigningKeys {
    server_secret: ServerSecret,
}

/// The server secret, read when first needed: a server may start before its
/// database is migrated.
#[derive(Clone)]
enum ServerSecret {
    Known(Arc<Vec<u8>>),
    Stored { store: Arc<dyn KeyStore>, configured: Option<String>, secret: Arc<OnceCell<Vec<u8>>> },
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Keys derived from `server_secret`.
    pub fn new(server_secret: Vec<u8>) -> Self {
        Self { server_secret: ServerSecret::Known(Arc::new(server_secret)) }
    }

    /// Keys derived from the server secret of `store` (`configured`, or the
    /// one kept in the database), read on first use.
    pub fn from_store(store: Arc<dyn KeyStore>, configured: Option<String>) -> Self {
        Self { server_secret: ServerSecret::Stored { store, configured, secret: Arc::default() } }
    }

    /// The signing key of a subscription.
    pub async fn key(&self, subscription_id: Uuid) -> Result<Vec<u8>, ConsentError> {
        let secret = match &self.server_secret {
            ServerSecret::Known(secret) => secret.as_slice(),
            ServerSecret::Stored { store, configured, secret } => secret
                .get_or_try_init(|| async {
                    server_secret(store.as_ref(), configured.as_deref()).await.map_err(|err| match err {
                        KeyError::Store(err) => err,
                        KeyError::Random(message) => ConsentError::Internal(message),
                        KeyError::Issue(err) => ConsentError::Internal(err.to_string()),
                    })
                })
                .await?
                .as_slice(),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"consentd webhook signing key\0");
        mac.update(subscription_id.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// The signing secret of a subscription, as shown to its owner once.
    pub async fn secret(&self, subscription_id: Uuid) -> Result<String, ConsentError> {
        Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(self.key(subscription_id).await?)))
    }
}

/// The `webhook-signature` header value for a message.
pub fn signature(key: &[u8], event_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{event_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// Delivered, failed or refused.
    pub outcome: DeliveryOutcome,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong; empty on success.
    pub error: String,
    /// How long the attempt took.
    pub latency: Duration,
    /// Whether retrying cannot help until the configuration changes (the URL
    /// left the allowlist, or names a refused address literally).
    pub permanent: bool,
}

impl AttemptResult {
    /// A change that cannot be sent at all (its format cannot encode it):
    /// retrying cannot help.
    pub fn unsendable(error: String) -> Self {
        Self {
            outcome: DeliveryOutcome::Failed,
            status_code: None,
            error,
            latency: Duration::ZERO,
            permanent: true,
        }
    }
}

/// Sends deliveries.
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    policy: Arc<UrlPolicy>,
}

impl Deliverer {
    /// A client that connects within `connect_timeout`, gives up on a
    /// response after `response_timeout`, follows no redirect, uses no proxy,
    /// and resolves names through the policy.
    pub fn new(
        policy: Arc<UrlPolicy>,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        // reqwest is built without a bundled crypto provider: use ring, as
        // the servers' TLS does. An error means one is installed already.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(response_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(policy.resolver())
            .user_agent(concat!("consentd-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, policy })
    }

    /// POSTs `body` to `url`, signed with `key`.
    pub async fn deliver(
        &self,
        url: &str,
        key: &[u8],
        event_id: Uuid,
        subscription_id: Uuid,
        body: Vec<u8>,
    ) -> AttemptResult {
        let started = Instant::now();
        let refused = |error: String, permanent: bool| AttemptResult {
            outcome: DeliveryOutcome::Refused,
            status_code: None,
            error,
            latency: started.elapsed(),
            permanent,
        };
        // The allowlist may have changed since the subscription was made.
        let url = match self.policy.check_url(url) {
            Ok(url) => url,
            Err(refusal) => return refused(format!("url {refusal}"), true),
        };
        let event_id = event_id.to_string();
        let timestamp = consent_core::Timestamp::now().as_micros() / 1_000_000;
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature(key, &event_id, timestamp, &body))
            .header("consentd-subscription-id", subscription_id.to_string())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                drain(response).await;
                let (outcome, error) = if status.is_success() {
                    (DeliveryOutcome::Delivered, String::new())
                } else if status.is_redirection() {
                    (
                        DeliveryOutcome::Failed,
                        format!("receiver answered {status}; redirects are not followed"),
                    )
                } else {
                    (DeliveryOutcome::Failed, format!("receiver answered {status}"))
                };
                AttemptResult {
                    outcome,
                    status_code: Some(status.as_u16()),
                    error,
                    latency: started.elapsed(),
                    permanent: false,
                }
            }
            // A name resolving to refused addresses may resolve otherwise
            // later: retried like an outage.
            Err(err) => match refusal_in(&err) {
                Some(refusal) => refused(format!("url {refusal}"), false),
                None => AttemptResult {
                    outcome: DeliveryOutcome::Failed,
                    status_code: None,
                    error: describe(&err),
                    latency: started.elapsed(),
                    permanent: false,
                },
            },
        }
    }
}

/// Reads a short answer to its end so the connection can be reused; a long
/// or slow one is dropped with its connection (its content is not used).
async fn drain(mut response: reqwest::Response) {
    const MAX_DRAINED: usize = 64 * 1024;
    let mut drained = 0;
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            drained += chunk.len();
            if drained > MAX_DRAINED {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), read).await;
}

/// The policy refusal behind a client error, if that is what it is.
fn refusal_in(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<RefusedAddress>() {
            return Some(refused.to_string());
        }
        source = current.source();
    }
    None
}

/// A client error with its causes, for the delivery log.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[tokio::test]
    async fn keys_differ_per_subscription_and_server_secret() {
        let a = SigningKeys::new(b"secret-a".to_vec());
        let b = SigningKeys::new(b"secret-b".to_vec());
        let id = Uuid::now_v7();
        let key = a.key(id).await.unwrap();
        assert_eq!(key, a.key(id).await.unwrap());
        assert_ne!(key, a.key(Uuid::now_v7()).await.unwrap());
        assert_ne!(key, b.key(id).await.unwrap());
        let secret = a.secret(id).await.unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret[6..]).unwrap(), key);
        assert_eq!(key.len(), KEY_BYTES);
    }
}
