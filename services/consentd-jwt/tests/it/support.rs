//! Keys, tokens, JWKS files and a JWKS server for the tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use consentd_jwt::{JwtSettings, JwtVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub(crate) const ISSUER: &str = "https://idp.test";
pub(crate) const AUDIENCE: &str = "consentd";

/// A 2048-bit RSA test key (PKCS#1 DER), made for these tests only: ring
/// cannot generate RSA keys.
const RSA_TEST_KEY: &[&str] = &[
    "MIIEpAIBAAKCAQEAhBvHxiT3tSqLtwpGgSrGFetWt0Yt0RamHXbqs3pG7KGrz+eX6F1RHhJPSbRO",
    "sjpqgpqOIoqF9+1P08MrVbYYuBLYikrJHy95TMKtU49o8/kYWEIOLGhkB1Je6wrNlcGfjfu3co4Z",
    "EnJC1QyE4Q1+zxkE9OmAZVXydHV4EapDab4HJJr31KIB3MiV9lFzvHDDIZ+oUtMyLZJzSYWCUq+4",
    "E1ukP8mmxLW3+rZW/+gWO1vjZnYA5Il2PkTjEhLMt+v7qoB7lDn5VWwKyOVaMa6uWF1bYgAVEhJ3",
    "xIn55nDmRJd2iyxYuly9DOtjF9yKiiFy+FKywuOXlKKG53++RmkhDQIDAQABAoIBAAIK98bppwu2",
    "jpjC4szpYJvH7qiKezypcJMoS/FZZg2ZY3uRqVn2UF91Uxnb3QlcvkXll43EfcGd5o50yEXOEd2N",
    "5pbGZ4IoceQqeqcge1GSL45hNs4MTJYk3A0fQK6rlCtRFwjGQr8Ri8sZNx1FzFft4CcrYGuORkIu",
    "iNdH29p4OYawCtZXiyg2hXvJNLHsb2XZ+JtcrIJL7SSXS9VsfAXiVdvbkSwN2G4lx3AQraNar4hm",
    "n9UgtEyMC4wsd7giMwnpKtVx+ddD07kcgDVTDoenGy6pR2y8vlUP7TyVp2fRc6EoDQUJa9+pRkeL",
    "S+PtILUl6m8bNh6l76bdt1KGrAECgYEAuUd93Pk6HkR7fz0zQ4lf91ST8Z+W9K2BGB1ZU7zw9GtP",
    "1oR7/ZiUJe9gyZHX4fvpcFVmUw39D732s7ZdmcGm6p8AthJvCKU1NO5SNR+DHfGhQeijyj//tc4b",
    "QqD39hLauXQr0Chw0KL46gwBEtOeKlSHNHIe9vr9QMJoW6iQFw0CgYEAtoi5lI51Rw7inOhCadHq",
    "CVsBoSnkBld95W7PC+cIu+NMn7y2IGwB+BmkJBUqBBucgh+ky6j2bWToVJeLD08Npy78u1rSiJxc",
    "hBoKK1fI1KZoD6lgMhmCbCnXTtz6Zyksxjl3gby0hI+WXPmLGxrD1Jfmm9YIAddz5oscXtCasgEC",
    "gYEAkG2BWJLS0itSFZKQdpIMw9EjblOYKe1iV3jxXAxJzE4mszMdMEcTHSsnyJkurxNfGlkH5bBe",
    "1zmeqOJ8vlGtmvENbeCauyOFgVhRruV8oQftS2Jc41jWLVOX/m1aPXDfHXfIe4A6yPhxjoiDAbkC",
    "bz7rEl/vcVmfty6UiPayM7UCgYEAs5TuZ+6ECWXmo5KKDIweIhgsEUAie+7GCNyszLv/RsLIlvtV",
    "f65jfZDUgT9lN+dmYkr5mfjggR3eyaLSiDwxZYL/2N/w88BJ8RmhWaUjC7uv84CjCIc6XmoHzynv",
    "HWFQELFnFvft7eFKgKxuJDt/4P+VPUokVJOBDpdcURgQqgECgYBGqOJNdA1JFgyKI5E5I4fmQumm",
    "Fdg3Jo/isO5m15s+TUKSJrmO8WyICVY8ECe8RomguBsqY1HQdCxk1H0V6vwFSbdr3oA5W1wMiv6M",
    "VPCHBmXOpbI0Vosm90hw2SjEtQxC98e4ldrS4wJT0MGvYt55A842flJM51KB63Dv9+FPig==",
];

/// A private key and the JWK of its public half.
pub(crate) struct Signer {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl Signer {
    /// A fresh Ed25519 key, its JWK stating `alg: EdDSA`.
    pub(crate) fn ed25519(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
            "x": b64(pair.public_key().as_ref()),
        });
        Self::new(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8.as_ref()), jwk)
    }

    /// A fresh P-256 key; its JWK states no `alg`.
    pub(crate) fn es256(kid: &str) -> Self {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        // An uncompressed point: 0x04, x, y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        });
        Self::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    /// The fixed RSA test key, signing with `alg`; its JWK states `jwk_alg`.
    pub(crate) fn rsa(kid: &str, alg: Algorithm, jwk_alg: Option<&str>) -> Self {
        let der = STANDARD.decode(RSA_TEST_KEY.concat()).unwrap();
        let pair = ring::rsa::KeyPair::from_der(&der).unwrap();
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        let mut jwk = json!({"kty": "RSA", "kid": kid, "n": b64(&public.n), "e": b64(&public.e)});
        if let Some(jwk_alg) = jwk_alg {
            jwk["alg"] = json!(jwk_alg);
        }
        Self::new(kid, alg, EncodingKey::from_rsa_der(&der), jwk)
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey, jwk: Value) -> Self {
        Self { kid: kid.to_owned(), alg, encoding, jwk }
    }

    /// The same private key under another `kid`.
    pub(crate) fn renamed(&self, kid: &str) -> Self {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        Self::new(kid, self.alg, self.encoding.clone(), jwk)
    }

    pub(crate) fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// `claims` signed, the header naming this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// `claims` signed, the header naming no key.
    pub(crate) fn sign_without_kid(&self, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.encoding).unwrap()
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWKS document holding these keys.
pub(crate) fn jwks(signers: &[&Signer]) -> String {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims that pass every check.
pub(crate) fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "svc-reporting",
        "iat": now(), "exp": now() + 300,
        "tenant": "acme", "scope": "consent:read consent:write",
    })
}

/// `claims()` with `changes` applied; a null removes the claim.
pub(crate) fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    let (Value::Object(target), Value::Object(changes)) = (&mut claims, changes) else {
        panic!("claims are objects");
    };
    for (name, value) in changes {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
    claims
}

/// A token put together by hand: any header, any signature.
pub(crate) fn craft(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// A JWKS file in its own temporary directory.
pub(crate) struct KeyFile {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
}

impl KeyFile {
    pub(crate) fn new(contents: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = Self { path: dir.path().join("jwks.json"), _dir: dir };
        file.write(contents);
        file
    }

    /// Replaces the contents at once, as a deployment would.
    pub(crate) fn write(&self, contents: &str) {
        let next = self.path.with_extension("next");
        std::fs::write(&next, contents).unwrap();
        std::fs::rename(&next, &self.path).unwrap();
    }

    pub(crate) fn settings(&self, refresh_seconds: u64) -> JwtSettings {
        let mut settings = JwtSettings::with_file(ISSUER, AUDIENCE, &self.path);
        settings.refresh_seconds = refresh_seconds;
        settings
    }

    pub(crate) async fn verifier(&self, refresh_seconds: u64) -> JwtVerifier {
        JwtVerifier::start(self.settings(refresh_seconds)).await.unwrap()
    }
}

/// Polls `check` until it holds, failing the test after `within`.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tiny HTTP server answering every request with the current body and
/// status, counting the requests.
pub(crate) struct JwksServer {
    pub(crate) url: String,
    state: Arc<ServerState>,
}

struct ServerState {
    response: Mutex<(u16, String)>,
    hits: AtomicUsize,
}

impl JwksServer {
    pub(crate) async fn start(body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let state =
            Arc::new(ServerState { response: Mutex::new((200, body.to_owned())), hits: AtomicUsize::new(0) });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&serving)));
            }
        });
        Self { url, state }
    }

    pub(crate) fn set(&self, status: u16, body: &str) {
        *self.state.response.lock().unwrap() = (status, body.to_owned());
    }

    pub(crate) fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn settings(&self, refresh_seconds: u64) -> JwtSettings {
        let mut settings = JwtSettings::with_url(ISSUER, AUDIENCE, &self.url);
        settings.refresh_seconds = refresh_seconds;
        settings
    }
}

async fn answer(mut stream: tokio::net::TcpStream, state: Arc<ServerState>) {
    // Read the request head; its details do not matter.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = state.response.lock().unwrap().clone();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
