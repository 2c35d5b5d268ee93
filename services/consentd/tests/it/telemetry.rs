//! OpenTelemetry from a real `consentd` process: spans and metrics over OTLP
//! to a collector in the test (a tonic server implementing the OTLP trace
//! and metrics services), parented by the caller's W3C trace context, and
//! the same metrics in Prometheus text at `GET /metrics` — among them the
//! ones the chart's dashboard and alerts read, each shown after the event it
//! measures ([`observed_everything`], which `chart.rs` reuses).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;

use crate::http_client::send;
use crate::process::ConsentdProcess;
use crate::subscriber::{Message, Subscriber};
use crate::support::{by_identity, check, identity, record, record_request};
use crate::webhook_receiver::Receiver;

/// What the collector received.
#[derive(Default)]
struct Received {
    /// Spans with their resource's attributes.
    spans: Mutex<Vec<(Vec<KeyValue>, Span)>>,
    /// Names of the metrics exported.
    metrics: Mutex<Vec<String>>,
    arrived: Notify,
}

#[derive(Clone)]
struct Collector(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| (resource.clone(), span)));
            }
        }
        self.0.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut metrics = self.0.metrics.lock().unwrap();
        for resource in request.into_inner().resource_metrics {
            for scope in resource.scope_metrics {
                metrics.extend(scope.metrics.into_iter().map(|metric| metric.name));
            }
        }
        self.0.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    async fn start() -> (Self, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Self(Arc::default());
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
        (collector, addr)
    }

    async fn wait_for<T>(&self, what: &str, find: impl Fn(&Received) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.0.arrived.notified();
            if let Some(found) = find(&self.0) {
                return found;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok() || find(&self.0).is_some(),
                "{what} never arrived; spans: {:?}",
                self.0.spans.lock().unwrap().iter().map(|(_, s)| s.name.clone()).collect::<Vec<_>>()
            );
        }
    }

    async fn span(&self, name: &str, trace_id: &str) -> (Vec<KeyValue>, Span) {
        let trace_id = hex_bytes(trace_id);
        self.wait_for(&format!("span {name}"), |received| {
            received
                .spans
                .lock()
                .unwrap()
                .iter()
                .find(|(_, span)| span.name == name && span.trace_id == trace_id)
                .cloned()
        })
        .await
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()?.value)
}

fn traced<T>(message: T, trace_id: &str, parent: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent}-01").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_spans_and_metrics_reach_the_collector_with_the_callers_trace() {
    let (collector, addr) = Collector::start().await;
    let endpoint = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let process = spawn_exporting_to(&endpoint, dir.path()).await;
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();

    let (ok_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let request = record_request(identity("user_id", "traced"), "marketing", "", pb::Decision::Granted);
    client.record_consent(traced(request, ok_trace, caller_span)).await.unwrap();
    let bad_trace = "0af7651916cd43dd8448eb211c80319c";
    let refused = client
        .record_consent(traced(pb::RecordConsentRequest::default(), bad_trace, caller_span))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let (resource, span) = collector.span("consent.v1.ConsentService/RecordConsent", ok_trace).await;
    assert_eq!(span.parent_span_id, hex_bytes(caller_span), "a child of the caller's span");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(attribute(&span.attributes, "rpc.system"), Some(Value::StringValue("grpc".into())));
    assert_eq!(
        attribute(&span.attributes, "rpc.service"),
        Some(Value::StringValue("consent.v1.ConsentService".into()))
    );
    assert_eq!(attribute(&span.attributes, "rpc.method"), Some(Value::StringValue("RecordConsent".into())));
    assert_eq!(attribute(&span.attributes, "rpc.grpc.status_code"), Some(Value::IntValue(0)));
    assert_eq!(attribute(&resource, "service.name"), Some(Value::StringValue("consentd-under-test".into())));
    let (_, refused_span) = collector.span("consent.v1.ConsentService/RecordConsent", bad_trace).await;
    assert_eq!(attribute(&refused_span.attributes, "rpc.grpc.status_code"), Some(Value::IntValue(3)));
    assert_ne!(refused_span.status.map(|s| s.code), Some(2), "a client's mistake is not the server's error");

    assert_vendor_span(&process, &collector, caller_span).await;
    assert_metrics(&process, &collector, &mut client).await;
    process.stop().await;
}

/// consentd on a database in `dir`, exporting its traces and metrics to
/// the OTLP collector at `endpoint`.
async fn spawn_exporting_to(endpoint: &str, dir: &std::path::Path) -> ConsentdProcess {
    let (path, endpoint) = (dir.to_owned(), endpoint.to_owned());
    tokio::task::spawn_blocking(move || {
        ConsentdProcess::spawn(
            &path,
            &[
                ("CONSENTD_AUTH", "disabled"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_SERVICE_NAME", "consentd-under-test"),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
                // RUST_LOG quiets the logs, never the traces (the spans are
                // made in consentd_grpc and consentd::gateway; the
                // "serving" line this harness waits for is consentd::server's).
                ("RUST_LOG", "warn,consentd::server=info"),
            ],
        )
    })
    .await
    .unwrap()
}

/// A vendor route's span: the HTTP traceparent header is honoured too.
async fn assert_vendor_span(process: &ConsentdProcess, collector: &Collector, caller_span: &str) {
    let http_trace = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let traceparent = format!("00-{http_trace}-{caller_span}-01");
    let response = send(
        process.http_addr,
        "POST",
        "/api/universalconsent",
        &[("content-type", "application/json"), ("traceparent", &traceparent)],
        br#"{"ConsentGiven": "All", "CustomUserId": "traced@example.com"}"#,
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let (_, vendor_span) = collector.span("POST /api/universalconsent", http_trace).await;
    assert_eq!(attribute(&vendor_span.attributes, "http.response.status_code"), Some(Value::IntValue(200)));
    assert_eq!(
        attribute(&vendor_span.attributes, "vendor"),
        Some(Value::StringValue("secureprivacy".into()))
    );
}

/// Metrics over OTLP, and in Prometheus text.
async fn assert_metrics(
    process: &ConsentdProcess,
    collector: &Collector,
    client: &mut ConsentServiceClient<tonic::transport::Channel>,
) {
    for name in
        ["rpc.server.call.duration", "http.server.request.duration", "consentd.store.write_batch.size"]
    {
        collector
            .wait_for(name, |received| {
                received.metrics.lock().unwrap().iter().any(|m| m == name).then_some(())
            })
            .await;
    }
    // A path that names no method: labelled _OTHER, so made-up paths cannot
    // mint metric series.
    let channel = tonic::transport::Channel::from_shared(process.url()).unwrap().connect().await.unwrap();
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let made_up = tonic::codegen::http::uri::PathAndQuery::from_static("/made.up.Service/Invent1");
    let unknown =
        raw.unary(tonic::Request::new(()), made_up, tonic_prost::ProstCodec::<(), ()>::default()).await;
    assert_eq!(unknown.unwrap_err().code(), tonic::Code::Unimplemented);

    // A stream's status is the one it ends with, not the one it starts with:
    // a Subscribe the client walks away from is CANCELLED.
    let stream = client.subscribe(pb::SubscribeRequest::default()).await.unwrap();
    drop(stream);
    let subscribe_line = |body: &str| {
        body.lines().any(|line| {
            line.starts_with("rpc_server_call_duration_seconds_count{")
                && line.contains("rpc_method=\"Subscribe\"")
                && line.contains("rpc_grpc_status_code=\"1\"")
        })
    };
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let scraped = loop {
        let scraped = send(process.http_addr, "GET", "/metrics", &[], b"").await;
        if subscribe_line(&scraped.body) || std::time::Instant::now() > give_up {
            break scraped;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(subscribe_line(&scraped.body), "no CANCELLED Subscribe in /metrics:\n{}", scraped.body);
    assert!(
        !scraped
            .body
            .lines()
            .any(|line| line.contains("rpc_method=\"Subscribe\"")
                && line.contains("rpc_grpc_status_code=\"0\"")),
        "a stream is not counted as OK when it starts:\n{}",
        scraped.body
    );
    assert!(
        !scraped.body.contains("made.up.Service") && !scraped.body.contains("Invent1"),
        "{}",
        scraped.body
    );
    assert!(scraped.body.contains("rpc_service=\"_OTHER\""), "{}", scraped.body);
    assert_eq!(scraped.status, 200);
    for expected in [
        "rpc_server_call_duration_seconds_count{",
        "rpc_method=\"RecordConsent\"",
        "rpc_grpc_status_code=\"3\"",
        "http_server_request_duration_seconds_bucket{",
        "consentd_store_write_batch_size",
        "consentd_store_pool_connections",
        "consentd_subscribe_open_streams",
    ] {
        assert!(scraped.body.contains(expected), "{expected} missing from /metrics:\n{}", scraped.body);
    }
}

/// Without a trace exporter a vendor call's span is at debug level, so the
/// line its refusal logs at info names the vendor and request id itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_vendor_call_logs_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let process = tokio::task::spawn_blocking(move || {
        ConsentdProcess::spawn(&path, &[("CONSENTD_AUTH", "disabled"), ("RUST_LOG", "info")])
    })
    .await
    .unwrap();
    let response = send(
        process.http_addr,
        "POST",
        "/api/universalconsent",
        &[("content-type", "application/json"), ("x-request-id", "log-me-42")],
        br#"{"ConsentGiven": "Maybe"}"#,
    )
    .await;
    assert_eq!(response.status, 400, "{response:?}");
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        if let Some(line) = process.log().into_iter().find(|line| line.contains("vendor request refused")) {
            break line;
        }
        assert!(std::time::Instant::now() < give_up, "no refusal logged: {:?}", process.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(line.contains("log-me-42") && line.contains("secureprivacy"), "{line}");
    process.stop().await;
}

/// The sum of a series' samples over its label sets in Prometheus text
/// (`name{...} value` or `name value` lines); `None` when it has none.
pub(crate) fn sample(metrics: &str, series: &str) -> Option<f64> {
    let values: Vec<f64> = metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(series)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            line.rsplit(' ').next()?.parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

async fn scrape(process: &ConsentdProcess) -> String {
    let response = send(process.http_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    response.body
}

/// Scrapes until `holds` is true of the series' value; the text it held in.
async fn scrape_until(
    process: &ConsentdProcess,
    series: &str,
    what: &str,
    holds: impl Fn(Option<f64>) -> bool,
) -> String {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = scrape(process).await;
        if holds(sample(&metrics, series)) {
            return metrics;
        }
        assert!(tokio::time::Instant::now() < give_up, "{series} never {what}:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Webhooks to loopback receivers: two attempts before a subscription is
/// parked, quick retries and polls, time for a slow receiver to answer.
const WEBHOOKS: &str = r#"
[webhooks]
allowed_urls = ["http://127.0.0.1:*"]
allowed_networks = ["127.0.0.0/8"]
connect_timeout_ms = 500
response_timeout_ms = 5000
max_attempts = 2
retry_initial_ms = 50
retry_max_ms = 100
poll_interval_ms = 100
"#;

/// A webhook subscription to `url`, through Secure Privacy's route.
async fn subscribe_webhook(process: &ConsentdProcess, url: &str) {
    let body = serde_json::to_vec(&serde_json::json!({ "WebhookUrl": url })).unwrap();
    let response = send(
        process.http_addr,
        "POST",
        "/api/universalconsent/subscribe",
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
}

/// A consentd (in `dir`) that has been through every event its dashboard
/// and alerts measure — consent calls and a vendor call, writes, a live
/// Subscribe event (and a replayed one, which is not lag), webhook deliveries
/// to a slow receiver (a backlog) and to a failing one (parked) — asserting
/// on the way that each metric shows it; and its `/metrics` text at the end,
/// with the stream still open.
pub(crate) async fn observed_everything(dir: &std::path::Path) -> (ConsentdProcess, String) {
    let process = ConsentdProcess::start(dir, WEBHOOKS, &[("CONSENTD_AUTH", "disabled")]).await;
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();
    let person = identity("user_id", "observed");
    let replayed = record(&mut client, person.clone(), "marketing", "", pb::Decision::Granted).await;
    check(&mut client, by_identity(person.clone()), "marketing", "").await;
    let vendor = send(
        process.http_addr,
        "POST",
        "/api/universalconsent",
        &[("content-type", "application/json")],
        br#"{"ConsentGiven": "All", "CustomUserId": "observed@example.com"}"#,
    )
    .await;
    assert_eq!(vendor.status, 200, "{vendor:?}");

    // The feed's delay counts live events only: a replay is history.
    let from_beginning = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
    let mut stream = Subscriber::open(&mut client, from_beginning).await.unwrap();
    next_event(&mut stream, replayed.revision).await;
    let metrics = scrape(&process).await;
    assert_eq!(sample(&metrics, "consentd_subscribe_delay_seconds_count").unwrap_or(0.0), 0.0, "{metrics}");
    let live = record(&mut client, person, "analytics", "", pb::Decision::Denied).await;
    next_event(&mut stream, live.revision).await;
    // The stream took the event before the client got it: no wait needed.
    let metrics = scrape(&process).await;
    assert_eq!(sample(&metrics, "consentd_subscribe_delay_seconds_count"), Some(1.0), "{metrics}");
    assert!(sample(&metrics, "consentd_subscribe_delay_seconds_sum").is_some_and(|s| s >= 0.0), "{metrics}");
    assert_eq!(sample(&metrics, "consentd_subscribe_open_streams"), Some(1.0), "{metrics}");
    let max = sample(&metrics, "consentd_store_pool_max_connections").expect("the pool's maximum");
    let open = sample(&metrics, "consentd_store_pool_connections").expect("the pool's connections");
    assert!(max >= 1.0 && open <= max, "{open} open of at most {max}");

    // A receiver taking 1.5 s per delivery leaves changes waiting; one that
    // fails gets its subscription parked after its two attempts.
    let slow = Receiver::start().await;
    slow.delay(Duration::from_millis(1500));
    let failing = Receiver::start().await;
    failing.answer(503);
    subscribe_webhook(&process, &slow.url("/slow")).await;
    subscribe_webhook(&process, &failing.url("/failing")).await;
    for i in 0..3 {
        record(&mut client, identity("user_id", &format!("w{i}")), "marketing", "", pb::Decision::Granted)
            .await;
    }
    let metrics = scrape_until(&process, "consentd_webhook_backlog", "showed a backlog", |backlog| {
        backlog.is_some_and(|b| b >= 1.0)
    })
    .await;
    let backlog = sample(&metrics, "consentd_webhook_backlog").unwrap_or_default();
    assert!(backlog <= 6.0, "two subscriptions, three changes each, yet {backlog} behind");
    scrape_until(&process, "consentd_webhook_parked", "counted the parked subscription", |parked| {
        parked == Some(1.0)
    })
    .await;
    slow.wait_until(Duration::from_secs(30), "three deliveries", |deliveries| {
        deliveries.iter().filter(|delivery| delivery.answered == 200).count() >= 3
    })
    .await;
    // Delivered, or parked (no longer anyone's backlog): nothing is behind.
    let metrics =
        scrape_until(&process, "consentd_webhook_backlog", "went back to 0", |backlog| backlog == Some(0.0))
            .await;
    assert_eq!(sample(&metrics, "consentd_webhook_parked"), Some(1.0), "{metrics}");
    let attempts = sample(&metrics, "consentd_webhook_attempts_total").unwrap_or_default();
    assert!(attempts >= 5.0, "3 delivered and 2 failed, yet {attempts} attempts:\n{metrics}");
    drop(stream);
    (process, metrics)
}

/// Reads `stream` up to the event of `revision`.
async fn next_event(stream: &mut Subscriber, revision: i64) {
    loop {
        match stream.next().await {
            Message::Event(event) if event.revision == revision => return,
            Message::Event(event) if event.revision < revision => {}
            Message::Heartbeat(_) => {}
            other @ (Message::Event(_) | Message::End(_) | Message::Closed) => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_delay_webhook_backlog_parked_subscriptions_and_pool_size_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    let (process, _) = observed_everything(dir.path()).await;
    process.stop().await;
}
