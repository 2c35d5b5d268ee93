//! Secure Privacy's Universal Consent API end to end: every route over real
//! HTTP with real keys and bindings, the answers in Secure Privacy's shapes,
//! and what they wrote seen over gRPC.

use consent_core::subject::subject_id_for;
use consent_core::{Identity, TenantId};
use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use serde_json::{Value, json};

use crate::auth::{KeyedClient, create_key, keyed_client};
use crate::http_client::{HttpResponse, send};
use crate::support::{TestServer, by_id, seconds_ago};
use crate::vendors::bind;

const INTEGRATION: &str = "int-7f3a";

struct Sp {
    server: TestServer,
    key: String,
    grpc: KeyedClient,
}

impl Sp {
    /// A server with auth required, a key for tenant acme, and acme's
    /// Secure Privacy integration bound.
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut consentd::config::Config)) -> Self {
        let server = TestServer::start_with(|config| {
            config.auth = AuthMode::Required;
            adjust(config);
        })
        .await;
        let key = create_key(&server.database_url(), "acme", &[]);
        bind(&server, "acme", "secureprivacy", INTEGRATION);
        let grpc = keyed_client(&server.url(), &key).await;
        Self { server, key, grpc }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> HttpResponse {
        let bearer = format!("Bearer {}", self.key);
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        anonymous(self, method, path, body, &headers).await
    }

    async fn history(&mut self) -> Vec<pb::ConsentRecord> {
        self.grpc
            .query_consents(pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .records
    }
}

async fn anonymous(
    sp: &Sp,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut all = headers.to_vec();
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    send(sp.server.running().http_addr, method, path, &all, &bytes).await
}

async fn get_with_key(sp: &Sp, key: &str, path: &str) -> HttpResponse {
    let bearer = format!("Bearer {key}");
    anonymous(sp, "GET", path, None, &[("authorization", &bearer)]).await
}

fn client_id(custom_user_id: &str) -> String {
    subject_id_for(&TenantId::new("acme"), &Identity::new("custom_user_id", custom_user_id)).to_string()
}

/// The field a 400 problem-details body names, asserting its shape.
fn bad_field(response: &HttpResponse) -> String {
    assert_eq!(response.status, 400, "{response:?}");
    let body = response.json();
    assert_eq!(body["status"], 400);
    assert_eq!(body["title"], "One or more validation errors occurred.");
    let errors = body["errors"].as_object().expect("errors object");
    assert_eq!(errors.len(), 1, "{body}");
    errors.keys().next().unwrap().clone()
}

async fn record(sp: &Sp, body: Value) -> Value {
    let response = sp.call("POST", "/api/universalconsent", Some(&body)).await;
    assert_eq!(response.status, 200, "{response:?}");
    response.json()
}

#[tokio::test]
async fn record_returns_a_deterministic_client_id_and_writes_the_decision() {
    let mut sp = Sp::start().await;
    let body = json!({
        "ConsentGiven": "All",
        "CustomUserId": "ann@example.com",
        "Metadata": "{\"title\":\"Dealership visit\"}",
        "Reference": "dealer-42",
        "ConsentType": "Call"
    });
    let first = record(&sp, body.clone()).await;
    assert_eq!(first["ClientId"], client_id("ann@example.com"), "UUIDv5 of the tenant and custom user id");
    assert!(first["Created"].as_str().unwrap().ends_with('Z'));
    let again = record(&sp, json!({"ConsentGiven": "None", "CustomUserId": "ann@example.com", "Reference": "dealer-42", "ConsentType": "Call"})).await;
    assert_eq!(again["ClientId"], first["ClientId"], "the same CustomUserId, the same ClientId");

    let check = sp
        .grpc
        .check_consent(pb::CheckConsentRequest {
            subject: by_id(first["ClientId"].as_str().unwrap()),
            purpose: "Call".into(),
            target: "dealer-42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.status(), pb::ConsentStatus::Denied, "the later decision holds");
    let history = sp.history().await;
    assert_eq!(history.len(), 2);
    let evidence = history[0].evidence.clone().unwrap();
    assert_eq!(evidence.vendor, "secureprivacy");
    assert_eq!(evidence.metadata_json, r#"{"Metadata":"{\"title\":\"Dealership visit\"}"}"#);
    assert_eq!(
        history[0].identities,
        [pb::Identity { namespace: "custom_user_id".into(), value: "ann@example.com".into() }]
    );
}

#[tokio::test]
async fn uri_defaults_to_the_origin_header_and_an_anonymous_visitor_gets_its_own_id() {
    let mut sp = Sp::start().await;
    let response = sp
        .call_with(
            "POST",
            "/api/universalconsent",
            Some(&json!({"ConsentGiven": "Partial", "ConsentType": "cookies"})),
            &[("origin", "https://shop.example"), ("user-agent", "Mozilla/5.0 test")],
        )
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let anonymous = response.json()["ClientId"].as_str().unwrap().to_owned();
    let second = record(&sp, json!({"ConsentGiven": "Partial", "ConsentType": "cookies"})).await;
    assert_ne!(second["ClientId"], anonymous.as_str(), "two anonymous visitors are two people");
    let history = sp.history().await;
    let evidence = history[0].evidence.clone().unwrap();
    assert_eq!(evidence.uri, "https://shop.example");
    assert_eq!(evidence.user_agent, "Mozilla/5.0 test");
    assert_eq!(history[0].decision(), pb::Decision::Limited);
    assert_eq!(history[0].identities[0].namespace, "anonymous_id");
}

/// Secure Privacy's GET of `client`'s consent for `doc-1` answers the
/// updated record `record_id` with every documented field.
async fn assert_get_answers_the_update(sp: &Sp, client: &str, record_id: &str) {
    let got = sp.call("GET", &format!("/api/universalconsent/{client}?Reference=doc-1"), None).await;
    assert_eq!(got.status, 200, "{got:?}");
    let got = got.json();
    assert_eq!(got["ConsentGiven"], "None");
    assert_eq!(got["ConsentType"], "Newsletter");
    assert_eq!(got["Reference"], "doc-1");
    assert_eq!(got["Metadata"], "withdrawn");
    assert_eq!(got["CustomUserId"], "bob");
    assert_eq!(got["ClientId"], client);
    assert_eq!(got["Id"], record_id);
    assert!(got["Created"].as_str().unwrap() < got["LastUpdated"].as_str().unwrap(), "{got}");
    let keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "Id",
        "Created",
        "LastUpdated",
        "URI",
        "ConsentGiven",
        "ConsentType",
        "Metadata",
        "Reference",
        "CustomUserId",
        "ClientId",
    ] {
        assert!(keys.contains(&key), "{key} missing from {got}");
    }
}

/// A browser's `Sec-GPC: 1` on a vendor route is recorded as evidence.
#[tokio::test]
async fn the_sec_gpc_header_is_recorded_as_evidence() {
    let mut sp = Sp::start().await;
    let body = json!({"ConsentGiven": "None", "CustomUserId": "gpc-on"});
    let response = sp.call_with("POST", "/api/universalconsent", Some(&body), &[("sec-gpc", "1")]).await;
    assert_eq!(response.status, 200, "{response:?}");
    let body = json!({"ConsentGiven": "All", "CustomUserId": "gpc-off"});
    let response = sp.call("POST", "/api/universalconsent", Some(&body)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let gpc: Vec<(String, bool)> = sp
        .history()
        .await
        .into_iter()
        .map(|record| (record.identities[0].value.clone(), record.evidence.is_some_and(|e| e.gpc)))
        .collect();
    assert_eq!(gpc, [("gpc-on".to_owned(), true), ("gpc-off".to_owned(), false)]);
}

#[tokio::test]
async fn update_get_and_check_follow_the_latest_record_for_the_reference() {
    let mut sp = Sp::start().await;
    let client = record(&sp, json!({"ConsentGiven": "All", "CustomUserId": "bob", "Reference": "doc-1", "ConsentType": "Newsletter", "Metadata": "v1"})).await["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();

    // PATCH updates the current record for (ClientId, Reference), whatever its ConsentType.
    let patch =
        json!({"ClientId": client, "Reference": "doc-1", "ConsentGiven": "None", "Metadata": "withdrawn"});
    let response = sp.call("PATCH", "/api/universalconsent", Some(&patch)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let history = sp.history().await;
    assert_eq!(history.len(), 2, "an update appends");
    assert_eq!(history[1].purpose, "Newsletter");
    assert_eq!(history[1].kind(), pb::EventKind::Updated);

    assert_get_answers_the_update(&sp, &client, &history[1].id).await;

    // The check, with its fields as query parameters and as a JSON body.
    let by_query = sp
        .call("GET", &format!("/api/universalconsent/consent-given?ClientId={client}&Reference=doc-1"), None)
        .await;
    assert_eq!(by_query.status, 200, "{by_query:?}");
    assert_eq!(by_query.json(), json!({"ConsentGiven": "None"}));
    let by_body = sp
        .call(
            "GET",
            "/api/universalconsent/consent-given",
            Some(&json!({"ClientId": client, "Reference": "doc-1"})),
        )
        .await;
    assert_eq!(by_body.json(), json!({"ConsentGiven": "None"}));

    // Nothing recorded for another reference.
    let missing = sp.call("GET", &format!("/api/universalconsent/{client}?Reference=doc-2"), None).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.json()["status"], 404);
    let not_found = sp
        .call(
            "PATCH",
            "/api/universalconsent",
            Some(&json!({"ClientId": client, "Reference": "doc-2", "ConsentGiven": "All"})),
        )
        .await;
    assert_eq!(not_found.status, 404, "{not_found:?}");
    assert_eq!(sp.history().await.len(), 2, "nothing written");

    // The check answers for a reference without a consent too: none given.
    let check = |reference: &str| {
        format!("/api/universalconsent/consent-given?ClientId={client}&Reference={reference}")
    };
    let unknown = sp.call("GET", &check("doc-2"), None).await;
    assert_eq!((unknown.status, unknown.json()), (200, json!({"ConsentGiven": "None"})));
    // A consent without a Reference applies to every reference.
    record(&sp, json!({"ConsentGiven": "Partial", "CustomUserId": "bob"})).await;
    assert_eq!(sp.call("GET", &check("doc-2"), None).await.json(), json!({"ConsentGiven": "Partial"}));
    assert_eq!(
        sp.call("GET", &check("doc-1"), None).await.json(),
        json!({"ConsentGiven": "Partial"}),
        "the later one decides"
    );
}

#[tokio::test]
async fn filtered_list_with_fingerprints_default_window_and_pages() {
    let mut sp = Sp::start_with(|config| {
        config.gateway.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for (user, given, kind) in
        [("u1", "All", "Call"), ("u2", "None", "Call"), ("u3", "Partial", "Chatbot"), ("u4", "All", "Call")]
    {
        let response = sp
            .call_with(
                "POST",
                "/api/universalconsent",
                Some(&json!({"ConsentGiven": given, "CustomUserId": user, "ConsentType": kind, "Reference": "site"})),
                &[("x-forwarded-for", "198.51.100.7"), ("user-agent", "UA-1")],
            )
            .await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    // A decision collected eight days ago falls outside the default window.
    sp.grpc
        .record_consent(pb::RecordConsentRequest {
            identities: vec![pb::Identity { namespace: "custom_user_id".into(), value: "old".into() }],
            decisions: vec![pb::PurposeDecision {
                purpose: "Call".into(),
                target: "site".into(),
                decision: pb::Decision::Granted.into(),
            }],
            collected_at: Some(seconds_ago(8 * 24 * 3600)),
            source: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let all = sp.call("GET", "/api/universalconsent", None).await;
    assert_eq!(all.status, 200, "{all:?}");
    let items = all.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 4, "the last 7 days by default: {items:?}");
    let first = &items[0];
    assert_eq!(first["ConsentGiven"], true);
    assert_eq!(first["Fingerprint"]["CustomUserId"], "u1");
    assert_eq!(first["Fingerprint"]["IP"], "198.51.100.7", "X-Forwarded-For from a trusted proxy");
    assert_eq!(first["Fingerprint"]["ProxifiedIP"], "127.0.0.1", "the proxy itself");
    assert_eq!(first["Fingerprint"]["UserAgent"], "UA-1");

    let with_old = sp.call("GET", "/api/universalconsent?FromDate=2000-01-01", None).await.json();
    assert_eq!(with_old.as_array().unwrap().len(), 5);

    let calls_refused =
        sp.call("GET", "/api/universalconsent?ConsentType=Call&ConsentGiven=false", None).await.json();
    let calls_refused = calls_refused.as_array().unwrap();
    assert_eq!(calls_refused.len(), 1);
    assert_eq!(calls_refused[0]["Fingerprint"]["CustomUserId"], "u2");
    let given = sp.call("GET", "/api/universalconsent", Some(&json!({"ConsentGiven": true}))).await.json();
    assert_eq!(given.as_array().unwrap().len(), 3, "All and Partial are consent given");
    let by_user = sp
        .call("GET", "/api/universalconsent?CustomUserId=u3&IP=198.51.100.7&UserAgent=UA-1", None)
        .await
        .json();
    assert_eq!(by_user.as_array().unwrap().len(), 1);

    // Pages of two, following the x-next-page-token header.
    let mut seen = Vec::new();
    let mut path = "/api/universalconsent?PageSize=2".to_owned();
    loop {
        let page = sp.call("GET", &path, None).await;
        assert_eq!(page.status, 200, "{page:?}");
        seen.extend(
            page.json().as_array().unwrap().iter().map(|item| item["Fingerprint"]["CustomUserId"].clone()),
        );
        match page.header("x-next-page-token") {
            Some(token) => path = format!("/api/universalconsent?PageSize=2&PageToken={token}"),
            None => break,
        }
    }
    assert_eq!(seen, [json!("u1"), json!("u2"), json!("u3"), json!("u4")]);
}

#[tokio::test]
async fn integration_routes_need_no_key_but_a_bound_integration() {
    let mut sp = Sp::start().await;
    let path = format!("/api/universalconsent/integration/{INTEGRATION}");
    let body =
        json!({"CustomUserId": "carol@example.com", "ConsentGiven": "All", "ConsentType": "EmailMarketing"});
    let response = anonymous(&sp, "POST", &path, Some(&body), &[]).await;
    assert_eq!(response.status, 200, "{response:?}");
    let created = response.json();
    assert_eq!(
        created["ClientId"],
        client_id("carol@example.com"),
        "the key-less write acts for the bound tenant"
    );
    assert_eq!(created["Reference"], INTEGRATION);
    assert_eq!(created["CustomUserId"], "carol@example.com");
    assert!(created["Created"].is_string());

    let client = created["ClientId"].as_str().unwrap().to_owned();
    let got = anonymous(
        &sp,
        "GET",
        &format!("/api/universalconsent/integration/{client}?IntegrationId={INTEGRATION}"),
        None,
        &[],
    )
    .await;
    assert_eq!(got.status, 200, "{got:?}");
    let got = got.json();
    assert_eq!(got["ConsentGiven"], "All");
    assert_eq!(got["ClientId"], client.as_str());
    assert_eq!(got["Reference"], INTEGRATION);
    for key in ["ClientId", "Reference", "ConsentGiven", "Created", "Metadata"] {
        assert!(got.get(key).is_some(), "{key} missing from {got}");
    }

    // An unbound integration id is no credential, and writes nothing.
    let unknown =
        anonymous(&sp, "POST", "/api/universalconsent/integration/int-unknown", Some(&body), &[]).await;
    assert_eq!(unknown.status, 401, "{unknown:?}");
    assert_eq!(unknown.json()["status"], 401);
    let foreign = anonymous(
        &sp,
        "GET",
        &format!("/api/universalconsent/integration/{client}?IntegrationId=int-unknown"),
        None,
        &[],
    )
    .await;
    assert_eq!(foreign.status, 401, "{foreign:?}");
    // The integration reads only what it recorded: a consent for another reference is not its own.
    let other =
        record(&sp, json!({"ConsentGiven": "All", "CustomUserId": "dave", "Reference": "elsewhere"})).await;
    let hidden = anonymous(
        &sp,
        "GET",
        &format!(
            "/api/universalconsent/integration/{}?IntegrationId={INTEGRATION}",
            other["ClientId"].as_str().unwrap()
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(hidden.status, 404, "{hidden:?}");
    assert_eq!(sp.history().await.len(), 2);
}

#[tokio::test]
async fn credentials_scopes_and_tenants_are_enforced() {
    let sp = Sp::start().await;
    let body = json!({"ConsentGiven": "All", "CustomUserId": "erin"});
    let no_key = anonymous(&sp, "POST", "/api/universalconsent", Some(&body), &[]).await;
    assert_eq!(no_key.status, 401, "{no_key:?}");
    assert_eq!(no_key.json()["title"], "Unauthorized");

    let client = record(&sp, body).await["ClientId"].as_str().unwrap().to_owned();
    let writer_only = create_key(&sp.server.database_url(), "acme", &["consent:write"]);
    let forbidden = get_with_key(&sp, &writer_only, &format!("/api/universalconsent/{client}")).await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_eq!(forbidden.json()["title"], "Forbidden");

    // Another tenant's key does not see acme's consent.
    let other = create_key(&sp.server.database_url(), "globex", &[]);
    let foreign = get_with_key(&sp, &other, &format!("/api/universalconsent/{client}")).await;
    assert_eq!(foreign.status, 404, "{foreign:?}");
    let list = get_with_key(&sp, &other, "/api/universalconsent").await;
    assert_eq!(list.json(), json!([]));
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_writes_nothing() {
    let mut sp = Sp::start().await;
    let long = "x".repeat(201);
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("POST", "/api/universalconsent".into(), Some(json!({"CustomUserId": "f"})), "ConsentGiven"),
        ("POST", "/api/universalconsent".into(), Some(json!({"ConsentGiven": "Maybe"})), "ConsentGiven"),
        (
            "POST",
            "/api/universalconsent".into(),
            Some(json!({"ConsentGiven": "All", "Metadata": long})),
            "Metadata",
        ),
        (
            "POST",
            "/api/universalconsent".into(),
            Some(json!({"ConsentGiven": "All", "CustomUserId": 7})),
            "CustomUserId",
        ),
        (
            "PATCH",
            "/api/universalconsent".into(),
            Some(json!({"ClientId": "nope", "ConsentGiven": "All"})),
            "ClientId",
        ),
        ("GET", "/api/universalconsent/not-a-uuid".into(), None, "ClientId"),
        ("GET", "/api/universalconsent/consent-given?Reference=x".into(), None, "ClientId"),
        ("GET", "/api/universalconsent?FromDate=yesterday".into(), None, "FromDate"),
        ("GET", "/api/universalconsent?ConsentGiven=maybe".into(), None, "ConsentGiven"),
        ("GET", "/api/universalconsent?PageSize=-1".into(), None, "PageSize"),
        ("GET", "/api/universalconsent?PageToken=garbage".into(), None, "PageToken"),
        ("POST", "/api/universalconsent/subscribe".into(), Some(json!({"Reference": "x"})), "WebhookUrl"),
        (
            "POST",
            format!("/api/universalconsent/integration/{INTEGRATION}"),
            Some(json!({"CustomUserId": "g"})),
            "ConsentGiven",
        ),
        ("GET", format!("/api/universalconsent/integration/{}", client_id("g")), None, "IntegrationId"),
    ];
    for (method, path, body, field) in cases {
        let response = match (method, path.contains("/integration/")) {
            (_, true) => anonymous(&sp, method, &path, body.as_ref(), &[]).await,
            (_, false) => sp.call(method, &path, body.as_ref()).await,
        };
        assert_eq!(bad_field(&response), field, "{method} {path} {body:?}");
    }
    let bearer = format!("Bearer {}", sp.key);
    let wrong_type = send(
        sp.server.running().http_addr,
        "POST",
        "/api/universalconsent",
        &[("authorization", &bearer), ("content-type", "text/plain")],
        br#"{"ConsentGiven": "All"}"#,
    )
    .await;
    assert_eq!(bad_field(&wrong_type), "content-type");
    assert_eq!(sp.history().await.len(), 0, "no bad request wrote anything");
    // Exactly 200 characters of Metadata are fine.
    record(&sp, json!({"ConsentGiven": "All", "Metadata": "y".repeat(200)})).await;
}
