//! QueryConsents: filters, current state vs history, AIP-158 pagination.

use std::collections::HashSet;

use consent_proto::v1 as pb;
use tonic::Code;

use crate::support::{TestServer, identity, query_all, record_request, seconds_ago};

async fn seed(client: &mut crate::support::Client) {
    let rows = [
        ("a@example.com", "marketing", pb::Decision::Granted, "web", "DE", "203.0.113.1"),
        ("b@example.com", "marketing", pb::Decision::Denied, "mobile", "FR", "203.0.113.2"),
        ("c@example.com", "analytics", pb::Decision::Granted, "web", "DE", "203.0.113.3"),
    ];
    for (email, purpose, choice, source, country, ip) in rows {
        let mut request = record_request(identity("email", email), purpose, "", choice);
        request.source = source.into();
        request.evidence = Some(pb::Evidence {
            ip: ip.into(),
            user_agent: format!("agent-{source}"),
            geo: Some(pb::Geo {
                country: country.into(),
                region: format!("{country}-R"),
                city: format!("{country}-City"),
            }),
            ..Default::default()
        });
        client.record_consent(request).await.unwrap();
    }
}

fn emails(records: &[pb::ConsentRecord]) -> Vec<String> {
    records.iter().map(|r| r.identities[0].value.clone()).collect()
}

#[tokio::test]
async fn every_filter_selects_exactly_its_records() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    seed(&mut client).await;
    let base = pb::QueryConsentsRequest::default();
    let cases: Vec<(pb::QueryConsentsRequest, Vec<&str>)> = vec![
        (base.clone(), vec!["a@example.com", "b@example.com", "c@example.com"]),
        (
            pb::QueryConsentsRequest { purpose: "marketing".into(), ..base.clone() },
            vec!["a@example.com", "b@example.com"],
        ),
        (
            pb::QueryConsentsRequest { decision: pb::Decision::Denied.into(), ..base.clone() },
            vec!["b@example.com"],
        ),
        (
            pb::QueryConsentsRequest { source: "web".into(), ..base.clone() },
            vec!["a@example.com", "c@example.com"],
        ),
        (
            pb::QueryConsentsRequest { country: "DE".into(), ..base.clone() },
            vec!["a@example.com", "c@example.com"],
        ),
        (pb::QueryConsentsRequest { region: "FR-R".into(), ..base.clone() }, vec!["b@example.com"]),
        (
            pb::QueryConsentsRequest { city: "DE-City".into(), ..base.clone() },
            vec!["a@example.com", "c@example.com"],
        ),
        (pb::QueryConsentsRequest { ip: "203.0.113.3".into(), ..base.clone() }, vec!["c@example.com"]),
        (
            pb::QueryConsentsRequest { user_agent: "agent-mobile".into(), ..base.clone() },
            vec!["b@example.com"],
        ),
        (
            pb::QueryConsentsRequest { identity: Some(identity("email", "B@example.com")), ..base.clone() },
            vec!["b@example.com"],
        ),
        (
            pb::QueryConsentsRequest {
                identity: Some(identity("email", "nobody@example.com")),
                ..base.clone()
            },
            vec![],
        ),
        (pb::QueryConsentsRequest { collected_after: Some(seconds_ago(-60)), ..base.clone() }, vec![]),
        (
            pb::QueryConsentsRequest { collected_before: Some(seconds_ago(-60)), ..base.clone() },
            vec!["a@example.com", "b@example.com", "c@example.com"],
        ),
        (
            pb::QueryConsentsRequest { purpose: "marketing".into(), country: "DE".into(), ..base.clone() },
            vec!["a@example.com"],
        ),
    ];
    for (request, expected) in cases {
        let got = query_all(&mut client, request.clone()).await;
        assert_eq!(emails(&got), expected, "{request:?}");
    }

    // subject_id filter, and a subject_id that disagrees with the identity.
    let b = query_all(
        &mut client,
        pb::QueryConsentsRequest { identity: Some(identity("email", "b@example.com")), ..base.clone() },
    )
    .await;
    let by_subject = query_all(
        &mut client,
        pb::QueryConsentsRequest { subject_id: b[0].subject_id.clone(), ..base.clone() },
    )
    .await;
    assert_eq!(emails(&by_subject), ["b@example.com"]);
    let contradictory = query_all(
        &mut client,
        pb::QueryConsentsRequest {
            subject_id: b[0].subject_id.clone(),
            identity: Some(identity("email", "a@example.com")),
            ..base
        },
    )
    .await;
    assert!(contradictory.is_empty());
}

#[tokio::test]
async fn page_size_defaults_and_caps() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // 1050 records in 11 requests of up to 100 decisions each.
    for batch in 0..11 {
        let decisions = (0..100)
            .map(|i| crate::support::decision(&format!("p-{batch}-{i}"), "", pb::Decision::Granted))
            .take(if batch == 10 { 50 } else { 100 })
            .collect();
        client
            .record_consent(pb::RecordConsentRequest {
                identities: vec![identity("user_id", "many")],
                decisions,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let page = |size| pb::QueryConsentsRequest { page_size: size, ..Default::default() };
    let default = client.query_consents(page(0)).await.unwrap().into_inner();
    assert_eq!(default.records.len(), 100);
    let capped = client.query_consents(page(5000)).await.unwrap().into_inner();
    assert_eq!(capped.records.len(), 1000);
    assert!(!capped.next_page_token.is_empty());
    let err = client.query_consents(page(-1)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn pagination_is_stable_under_concurrent_writes() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut initial = HashSet::new();
    for i in 0..60 {
        let response = client
            .record_consent(record_request(
                identity("user_id", &format!("p-{i}")),
                "marketing",
                "",
                pb::Decision::Granted,
            ))
            .await
            .unwrap()
            .into_inner();
        initial.insert(response.records[0].id.clone());
    }

    // Writers keep adding history while a reader pages through it.
    let writer = {
        let mut client = client.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                client
                    .record_consent(record_request(
                        identity("user_id", &format!("w-{i}")),
                        "marketing",
                        "",
                        pb::Decision::Denied,
                    ))
                    .await
                    .unwrap();
            }
        })
    };
    let mut request = pb::QueryConsentsRequest { history: true, page_size: 7, ..Default::default() };
    let mut seen = Vec::new();
    loop {
        let page = client.query_consents(request.clone()).await.unwrap().into_inner();
        seen.extend(page.records);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();

    let ids: Vec<_> = seen.iter().map(|r| r.id.clone()).collect();
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "no record appears twice");
    assert!(initial.is_subset(&unique), "every record present from the start is seen");
    assert!(seen.windows(2).all(|w| w[0].revision < w[1].revision), "revision order");
}

#[tokio::test]
async fn page_token_of_another_query_is_rejected() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for i in 0..3 {
        client
            .record_consent(record_request(
                identity("user_id", &format!("t-{i}")),
                "marketing",
                "",
                pb::Decision::Granted,
            ))
            .await
            .unwrap();
    }
    let page = client
        .query_consents(pb::QueryConsentsRequest { page_size: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let err = client
        .query_consents(pb::QueryConsentsRequest {
            purpose: "analytics".into(),
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// `expiring_before`: the current grants whose expiry falls before a time
/// (already lapsed ones too), never a denial, a grant without expiry, or a
/// grant superseded by a later decision; current state only.
#[tokio::test]
async fn expiring_before_lists_the_current_grants_to_renew() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let in_days = |days: i64| seconds_ago(-days * 86_400);
    let rows: [(&str, pb::Decision, Option<prost_types::Timestamp>); 6] = [
        ("soon@example.com", pb::Decision::Granted, Some(in_days(10))),
        ("lapsed@example.com", pb::Decision::Granted, Some(seconds_ago(60))),
        ("later@example.com", pb::Decision::Granted, Some(in_days(90))),
        ("forever@example.com", pb::Decision::Granted, None),
        ("denied@example.com", pb::Decision::Denied, Some(in_days(10))),
        ("withdrawn@example.com", pb::Decision::Granted, Some(in_days(10))),
    ];
    for (email, decision, expires_at) in rows {
        let mut request = record_request(identity("email", email), "marketing", "", decision);
        request.collected_at = Some(seconds_ago(120));
        request.expires_at = expires_at;
        client.record_consent(request).await.unwrap();
    }
    // A later denial supersedes this grant: it is no longer current.
    let withdrawal =
        record_request(identity("email", "withdrawn@example.com"), "marketing", "", pb::Decision::Denied);
    client.record_consent(withdrawal).await.unwrap();

    let query = pb::QueryConsentsRequest { expiring_before: Some(in_days(30)), ..Default::default() };
    let found: HashSet<String> = emails(&query_all(&mut client, query).await).into_iter().collect();
    let expected: HashSet<String> = ["soon@example.com", "lapsed@example.com"].map(str::to_owned).into();
    assert_eq!(found, expected);

    let with_history =
        pb::QueryConsentsRequest { expiring_before: Some(in_days(30)), history: true, ..Default::default() };
    let refused = client.query_consents(with_history).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("expiring_before"), "{refused:?}");
}
