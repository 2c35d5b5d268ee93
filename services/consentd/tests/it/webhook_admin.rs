//! Webhook subscriptions managed over gRPC: listed, inspected, redelivered
//! and deleted per tenant, each key seeing only its own tenant's, with the
//! scope and the per-tenant cap enforced.

use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::webhook_service_client::WebhookServiceClient;
use consentd::config::AuthMode;
use serde_json::json;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::auth::{BearerKey, create_key, keyed_client};
use crate::http_client::send;
use crate::support::{TestServer, identity, record_request};
use crate::webhook_receiver::{Delivery, Receiver};

const WAIT: Duration = Duration::from_secs(30);

type KeyedWebhooks = WebhookServiceClient<InterceptedService<Channel, BearerKey>>;

async fn keyed_webhooks(server: &TestServer, key: &str) -> KeyedWebhooks {
    let value = format!("Bearer {key}").parse().unwrap();
    WebhookServiceClient::with_interceptor(server.channel().await, BearerKey(value))
}

#[tokio::test]
async fn subscriptions_are_managed_per_tenant_over_grpc() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.webhooks.max_per_tenant = 3;
    })
    .await;
    let acme = create_key(&server.database_url(), "acme", &[]);
    let globex = create_key(&server.database_url(), "globex", &[]);
    let writer_only = create_key(&server.database_url(), "acme", &["consent:write"]);
    let receiver = Receiver::start().await;
    let http = server.running().http_addr;
    let subscribe_as = |key: String, url: String| async move {
        let bearer = format!("Bearer {key}");
        let body = serde_json::to_vec(&json!({"WebhookUrl": url})).unwrap();
        send(
            http,
            "POST",
            "/api/universalconsent/subscribe",
            &[("authorization", &bearer), ("content-type", "application/json")],
            &body,
        )
        .await
    };
    assert_eq!(
        subscribe_as(writer_only.clone(), receiver.url("/h")).await.status,
        403,
        "needs consent:subscribe"
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        let response = subscribe_as(acme.clone(), receiver.url(&format!("/h{i}"))).await;
        assert_eq!(response.status, 200, "{response:?}");
        ids.push(response.json()["SubscriptionId"].as_str().unwrap().to_owned());
    }
    let capped = subscribe_as(acme.clone(), receiver.url("/h3")).await;
    assert_eq!(capped.status, 409, "a tenant's subscriptions are capped: {capped:?}");

    let mut mine = keyed_webhooks(&server, &acme).await;
    assert_listed_in_pages(&mut mine, &ids, &receiver).await;

    // Another tenant sees none of them and can touch none.
    assert_hidden_from(&mut keyed_webhooks(&server, &globex).await, &ids[0]).await;
    assert_refused(&mut keyed_webhooks(&server, &writer_only).await, &mut mine).await;

    // Deleting stops deliveries, also of a subscription a worker is
    // delivering right now.
    let mut writer = keyed_client(&server.url(), &acme).await;
    let written = writer
        .record_consent(record_request(identity("user_id", "y"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap()
        .into_inner();
    receiver.wait_until(WAIT, "one delivery per subscription", |d| d.len() >= 3).await;
    for id in &ids {
        mine.delete_webhook_subscription(pb::DeleteWebhookSubscriptionRequest { id: id.clone() })
            .await
            .unwrap();
    }
    let gone = mine
        .get_webhook_subscription(pb::GetWebhookSubscriptionRequest { id: ids[0].clone() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    writer
        .record_consent(record_request(identity("user_id", "z"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after: Vec<i64> = receiver.deliveries().iter().map(Delivery::revision).collect();
    assert_eq!(after, [written.revision; 3], "deleted subscriptions deliver nothing more");
}

/// The subscriptions `ids` (made in that order, the last to `/h2`), listed
/// two to a page.
async fn assert_listed_in_pages(mine: &mut KeyedWebhooks, ids: &[String], receiver: &Receiver) {
    let first = mine
        .list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.subscriptions.len(), 2);
    let rest = mine
        .list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest {
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rest.next_page_token.is_empty());
    let listed: Vec<String> =
        first.subscriptions.iter().chain(&rest.subscriptions).map(|s| s.id.clone()).collect();
    assert_eq!(listed, ids);
    assert_eq!(rest.subscriptions[0].url, receiver.url("/h2"));
    assert_eq!(rest.subscriptions[0].format, "secureprivacy");
}

/// Another tenant's key neither lists nor touches the subscription `id`.
async fn assert_hidden_from(theirs: &mut KeyedWebhooks, id: &str) {
    let none =
        theirs.list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest::default()).await.unwrap();
    assert!(none.into_inner().subscriptions.is_empty());
    for code in [
        theirs
            .get_webhook_subscription(pb::GetWebhookSubscriptionRequest { id: id.to_owned() })
            .await
            .unwrap_err()
            .code(),
        theirs
            .delete_webhook_subscription(pb::DeleteWebhookSubscriptionRequest { id: id.to_owned() })
            .await
            .unwrap_err()
            .code(),
        theirs
            .redeliver_webhook_subscription(pb::RedeliverWebhookSubscriptionRequest {
                id: id.to_owned(),
                after_revision: None,
            })
            .await
            .unwrap_err()
            .code(),
        theirs
            .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                subscription_id: id.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
    ] {
        assert_eq!(code, Code::NotFound);
    }
}

/// A key without the subscribe scope is denied; malformed ids and page
/// tokens are INVALID_ARGUMENT.
async fn assert_refused(no_scope: &mut KeyedWebhooks, mine: &mut KeyedWebhooks) {
    let denied = no_scope
        .list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = mine
        .get_webhook_subscription(pb::GetWebhookSubscriptionRequest { id: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let bad_token = mine
        .list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest {
            page_token: "%%".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);
}
