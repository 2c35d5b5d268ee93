//! Cookie banners in a real browser: headless Chromium (Debian's package,
//! driven by Playwright from `tests/browser/drive.py`) opens a page served
//! from an allowed origin and one from another origin. Each runs Intempt's
//! documented `fetch` example (with a publishable key in Intempt's own
//! `apiKey`) and a JENTIS `navigator.sendBeacon` (with a publishable key in
//! `?key=`), then tries to read. The allowed page's two records are found
//! over gRPC; the other page's fetch is stopped by the browser's CORS check
//! and its beacon refused by the server, so nothing of it is written; no
//! read succeeds.
//!
//! `.ci/run` installs Chromium and prepares the Playwright virtualenv,
//! naming its Python in `CONSENTD_BROWSER_PYTHON`; without it the test
//! makes its own under the target directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use consent_proto::v1 as pb;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::auth::{KeyedClient, create_key, keyed_client};
use crate::cors::{INTEMPT_PATH, bind_with_origins};
use crate::http_client::fixture;
use crate::process::ConsentdProcess;
use crate::publishable_keys::create_publishable;
use crate::support::identity;

const INTEMPT_ACCOUNT: &str = "demo-organization/demo-project";
const JENTIS_ACCOUNT: &str = "ckion-demo/live";

/// A Python with Playwright.
fn browser_python() -> PathBuf {
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/requirements.txt");
    crate::python::with_packages("CONSENTD_BROWSER_PYTHON", "browser-venv", &requirements, "playwright")
}

/// Debian's Chromium (`CONSENTD_CHROMIUM` names another).
fn chromium() -> String {
    let path = std::env::var("CONSENTD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(Path::new(&path).exists(), "no Chromium at {path}: install the chromium package (.ci/run does)");
    path
}

/// Opens each page in Chromium (`drive.py`): what each page's script
/// published, in order, and the whole run's output for messages.
async fn drive(python: PathBuf, chromium: String, urls: Vec<String>) -> (Vec<Value>, String) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/drive.py"))
            .arg(chromium)
            .args(urls)
            .output()
            .expect("the browser driver runs")
    })
    .await
    .unwrap();
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser run failed:\n{report}");
    let pages = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (pages, report)
}

/// Serves `page` on `listener` as the answer to every request: a web
/// page's origin is `http://127.0.0.1:<port>`.
fn serve_page(listener: TcpListener, page: String) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    page.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(page.as_bytes()).await;
            });
        }
    });
    addr
}

/// A banner's page: Intempt's documented fetch, a JENTIS beacon, a read.
fn banner_page(consentd: &str, intempt_key: &str, jentis_key: &str, user: &str) -> String {
    let mut submission: Value =
        serde_json::from_slice(&fixture("jentis", "request-documented-example.json")).unwrap();
    submission["data"]["identifier"]["user"]["id"] = json!(user);
    format!(
        r#"<!doctype html><html><body><script>
const base = {consentd:?};
const results = {{}};
async function run() {{
  // Intempt's documented example; only the base URL and key are ours.
  var myHeaders = new Headers();
  myHeaders.append("Content-Type", "application/json");
  var raw = JSON.stringify({{
    "action": "accept", "timestamp": Date.now(),
    "validUntil": Date.now() + (365 * 24 * 60 * 60 * 1000),
    "source": "desktop", "category": "analytics", "sourceId": 0,
    "userId": {user:?}, "email": {user:?},
    "message": "User accepted analytics consent on cookie banner"
  }});
  var requestOptions = {{ method: "POST", headers: myHeaders, body: raw, redirect: "follow" }};
  try {{
    const response = await fetch(base + {path:?} + "?apiKey=" + {intempt_key:?}, requestOptions);
    results.intempt = {{ status: response.status, body: await response.text() }};
  }} catch (error) {{ results.intempt = {{ error: String(error) }}; }}
  // JENTIS from a web page: a beacon, a text/plain body, no headers.
  results.beacon = navigator.sendBeacon(base + "/jentis?key=" + {jentis_key:?}, JSON.stringify({submission}));
  try {{
    const response = await fetch(base + "/api/universalconsent?key=" + {jentis_key:?});
    results.read = {{ status: response.status }};
  }} catch (error) {{ results.read = {{ error: String(error) }}; }}
  window.results = results;
}}
run();
</script></body></html>"#,
        path = INTEMPT_PATH,
    )
}

async fn found(client: &mut KeyedClient, namespace: &str, value: &str) -> usize {
    let request = pb::QueryConsentsRequest {
        identity: Some(identity(namespace, value)),
        history: true,
        ..Default::default()
    };
    client.query_consents(request).await.unwrap().into_inner().records.len()
}

/// Whether the process logged a JENTIS call refused with 403 (the other
/// page's beacon: the allowed page's is recorded).
fn refused_beacon_logged(server: &ConsentdProcess) -> bool {
    server.log().iter().filter_map(|line| serde_json::from_str::<Value>(line).ok()).any(|line| {
        line["fields"]["message"] == "vendor request refused"
            && line["fields"]["vendor"] == "jentis"
            && line["fields"]["status"] == 403
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banner_on_an_allowed_origin_records_and_one_elsewhere_is_refused() {
    let (python, chromium) = (browser_python(), chromium());
    // A real process, whose log says when the other page's beacon was
    // refused.
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
    // The allowed page's origin is its port's: listen first, then allow it.
    let allowed_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().unwrap());
    bind_with_origins(&database_url, "acme", "intempt", INTEMPT_ACCOUNT, &[&allowed_origin]);
    bind_with_origins(&database_url, "acme", "jentis", JENTIS_ACCOUNT, &[&allowed_origin]);
    let intempt_key = create_publishable(&database_url, "intempt", INTEMPT_ACCOUNT, &[&allowed_origin]);
    let jentis_key = create_publishable(&database_url, "jentis", JENTIS_ACCOUNT, &[&allowed_origin]);
    let server = ConsentdProcess::start(dir.path(), "", &[]).await;
    let consentd = format!("http://{}", server.http_addr);

    let allowed =
        serve_page(allowed_listener, banner_page(&consentd, &intempt_key, &jentis_key, "allowed-user"));
    let other_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = serve_page(other_listener, banner_page(&consentd, &intempt_key, &jentis_key, "other-user"));
    // The other page first: its refused beacon is then counted before the
    // allowed page's records are looked for.
    let (pages, report) =
        drive(python, chromium, vec![format!("http://{other}/"), format!("http://{allowed}/")]).await;
    let (elsewhere, shop) = (&pages[0]["results"], &pages[1]["results"]);

    assert_eq!(shop["intempt"]["status"], 200, "{report}");
    assert_eq!(shop["beacon"], true, "{report}");
    assert!(shop["read"]["status"] != 200, "a publishable key cannot read: {report}");
    assert!(
        elsewhere["intempt"]["error"].as_str().is_some_and(|e| e.contains("Failed to fetch")),
        "the browser's CORS check stops the other page's fetch: {report}"
    );
    assert!(elsewhere["read"]["status"] != 200, "{report}");

    let admin = create_key(&database_url, "acme", &[]);
    let mut client = keyed_client(&server.url(), &admin).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while found(&mut client, "jentis_user_id", "allowed-user").await == 0 {
        assert!(Instant::now() < deadline, "the allowed page's beacon never arrived:\n{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found(&mut client, "user_id", "allowed-user").await, 1, "{report}");
    // The other page's beacon was sent; once the gateway has refused it,
    // nothing of that page may be in the log.
    while !refused_beacon_logged(&server) {
        assert!(Instant::now() < deadline, "the other page's beacon never arrived:\n{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found(&mut client, "jentis_user_id", "other-user").await, 0, "{report}");
    assert_eq!(found(&mut client, "user_id", "other-user").await, 0, "{report}");
}

/// A tag manager's page: Consent Mode's defaults from consentd before any
/// tag fires, by the browser's own id, with a publishable key.
fn tag_manager_page(consentd: &str, key: &str, device: &str) -> String {
    format!(
        r#"<!doctype html><html><body><script>
window.dataLayer = window.dataLayer || [];
function gtag() {{ dataLayer.push(arguments); }}
async function run() {{
  const url = {consentd:?} + "/v1/consent-mode?namespace=device_id&value=" + {device:?} + "&key=" + {key:?};
  try {{
    const response = await fetch(url);
    const state = await response.json();
    if (response.ok) {{
      delete state.revision;
      gtag("consent", "default", state);
    }}
    window.results = {{ status: response.status, state: state }};
  }} catch (error) {{ window.results = {{ error: String(error) }}; }}
}}
run();
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_manager_reads_consent_mode_from_its_origin_only() {
    let (python, chromium) = (browser_python(), chromium());
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
    let allowed_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().unwrap());
    bind_with_origins(&database_url, "acme", "jentis", JENTIS_ACCOUNT, &[&allowed_origin]);
    let key = create_publishable(&database_url, "jentis", JENTIS_ACCOUNT, &[&allowed_origin]);
    let config = "[signals.consent_mode]\nad_storage = \"marketing\"\nanalytics_storage = \"analytics\"\n\
                  public_namespaces = [\"device_id\"]\n";
    let server = ConsentdProcess::start(dir.path(), config, &[]).await;
    let admin = create_key(&database_url, "acme", &[]);
    let mut client = keyed_client(&server.url(), &admin).await;
    let grant = |purpose: &str, decision: pb::Decision| pb::PurposeDecision {
        purpose: purpose.into(),
        target: String::new(),
        decision: decision.into(),
    };
    let request = pb::RecordConsentRequest {
        identities: vec![identity("device_id", "browser-1")],
        decisions: vec![grant("marketing", pb::Decision::Granted), grant("analytics", pb::Decision::Denied)],
        ..Default::default()
    };
    client.record_consent(request).await.unwrap();

    let consentd = format!("http://{}", server.http_addr);
    let allowed = serve_page(allowed_listener, tag_manager_page(&consentd, &key, "browser-1"));
    let other = serve_page(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tag_manager_page(&consentd, &key, "browser-1"),
    );
    let (pages, report) =
        drive(python, chromium, vec![format!("http://{allowed}/"), format!("http://{other}/")]).await;
    let (shop, elsewhere) = (&pages[0]["results"], &pages[1]["results"]);
    assert_eq!(shop["status"], 200, "{report}");
    assert_eq!(shop["state"]["ad_storage"], "granted", "{report}");
    assert_eq!(shop["state"]["analytics_storage"], "denied", "{report}");
    assert_eq!(shop["state"]["ad_personalization"], "denied", "unmapped: {report}");
    assert!(
        elsewhere["error"].as_str().is_some_and(|e| e.contains("Failed to fetch")),
        "another page cannot read the answer: {report}"
    );
}
