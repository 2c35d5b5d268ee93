//! export and import: a round trip into a second database with equal
//! results, an interrupted export resumed, an import rerun writing nothing,
//! another platform's CSV through a mapping with its refusals named.

use std::time::Duration;

use crate::support::{Server, content};

/// People with several decisions each, some updated, over a few days.
async fn populate(server: &Server, people: u32) {
    for person in 0..people {
        let day = person % 9 + 1;
        server
            .ctl(&[
                "record",
                "--identity",
                &format!("email=p{person}@example.com"),
                "--identity",
                &format!("user_id={person}"),
                "--grant",
                "analytics",
                "--deny",
                "ads:google",
                "--limit",
                "personalization",
                "--collected-at",
                &format!("2026-0{day}-01T10:00:00Z"),
                "--ip",
                &format!("198.51.100.{}", person % 250),
                "--user-agent",
                "Mozilla/5.0, \"quoted\"",
                "--source",
                "web",
            ])
            .await
            .expect(0);
        if person % 3 == 0 {
            server
                .ctl(&[
                    "update",
                    "--identity",
                    &format!("user_id={person}"),
                    "--purpose",
                    "analytics",
                    "--decision",
                    "denied",
                    "--collected-at",
                    &format!("2026-0{day}-02T10:00:00Z"),
                ])
                .await
                .expect(0);
        }
    }
}

fn contents(lines: &[serde_json::Value]) -> Vec<String> {
    let mut contents: Vec<String> = lines.iter().map(content).collect();
    contents.sort();
    contents
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_imported_into_a_second_database_gives_the_same_records() {
    let source = Server::start().await;
    populate(&source, 12).await;
    let target = Server::start().await;
    for (file, format) in [("history.jsonl", "jsonl"), ("history.csv", "csv")] {
        let path = source.path(file);
        let path = path.to_str().expect("path");
        source.ctl(&["export", "--history", "--out", path]).await.expect(0);
        // The file's format follows its name.
        let head = std::fs::read_to_string(path).expect("export written");
        assert_eq!(head.starts_with("id,"), format == "csv", "{format}");

        let copy = target.path(file);
        std::fs::copy(path, &copy).expect("copied");
        let first = target.ctl(&["import", copy.to_str().expect("path")]).await.expect(0).json();
        let expected_written = if format == "jsonl" { 40 } else { 0 };
        assert_eq!(first["written"], expected_written, "{format}: {first}");
        assert_eq!(first["refused"], 0);
        // A rerun writes nothing: every request carries the key its
        // content gives it.
        let rerun = target.ctl(&["import", copy.to_str().expect("path")]).await.expect(0).json();
        assert_eq!((rerun["written"].as_u64(), rerun["skipped"].as_u64()), (Some(0), Some(40)), "{rerun}");
    }
    // The same current state and the same history, record for record.
    for flags in [&["query"][..], &["query", "--history"][..]] {
        let expected = contents(&source.ctl(flags).await.expect(0).json_lines());
        let imported = contents(&target.ctl(flags).await.expect(0).json_lines());
        assert_eq!(expected.len(), if flags.len() == 1 { 36 } else { 40 });
        assert_eq!(imported, expected, "{flags:?}");
    }
    // A current-state export holds updated records whose first record is
    // not in it: they are recorded, and a rerun still writes nothing.
    let current = source.path("current.jsonl");
    source.ctl(&["export", "--out", current.to_str().expect("path")]).await.expect(0);
    let fresh = Server::start().await;
    let first = fresh.ctl(&["import", current.to_str().expect("path")]).await.expect(0).json();
    assert_eq!((first["written"].as_u64(), first["skipped"].as_u64()), (Some(36), Some(0)), "{first}");
    let rerun = fresh.ctl(&["import", current.to_str().expect("path")]).await.expect(0).json();
    assert_eq!((rerun["written"].as_u64(), rerun["skipped"].as_u64()), (Some(0), Some(36)), "{rerun}");
    let expected = contents(&source.ctl(&["query"]).await.expect(0).json_lines());
    let imported: Vec<String> = contents(&fresh.ctl(&["query"]).await.expect(0).json_lines())
        .into_iter()
        .map(|record| record.replace("\"kind\":\"recorded\"", "\"kind\":\"updated\""))
        .collect();
    let expected: Vec<String> = expected
        .into_iter()
        .map(|record| record.replace("\"kind\":\"recorded\"", "\"kind\":\"updated\""))
        .collect();
    assert_eq!(imported, expected);

    // Checks answer alike.
    for user in ["user_id=0", "user_id=1"] {
        let ask = ["check", "--identity", user, "--purpose", "analytics"];
        let (a, b) = (source.ctl(&ask).await, target.ctl(&ask).await);
        assert_eq!(a.code(), b.code());
        assert_eq!(a.json()["status"], b.json()["status"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_export_resumes_where_it_stopped() {
    let server = Server::start().await;
    populate(&server, 40).await;
    let whole = server.path("whole.csv");
    server.ctl(&["export", "--history", "--out", whole.to_str().expect("path")]).await.expect(0);

    // Killed after some pages (one record a page, so it is mid-way).
    let part = server.path("part.csv");
    let args = ["export", "--history", "--page-size", "1", "--out", part.to_str().expect("path")];
    let mut command = server.command();
    let mut child = command.args(args).spawn().expect("export starts");
    let state = server.path("part.csv.export-state");
    let mut written = 0;
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&state) {
            let state: serde_json::Value = serde_json::from_str(&text).expect("state is JSON");
            written = state["records"].as_u64().expect("records");
            if written >= 20 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("export killed");
    child.wait().expect("reaped");
    assert!((20..133).contains(&written), "{written} records before the kill");
    // What the killed run left may hold a page past its state; the rerun
    // cuts it and goes on.
    let resumed = server.ctl(&args).await.expect(0);
    assert!(resumed.stderr().contains("resuming"), "{}", resumed.stderr());
    assert_eq!(std::fs::read(&part).expect("part"), std::fs::read(&whole).expect("whole"));
    assert!(!state.exists(), "the state file is removed at the end");

    // Another filter over the same file is not taken for a resume.
    std::fs::write(
        &state,
        br#"{"query":"other","page_token":"x","bytes":0,"records":0,"head":1,"position":0}"#,
    )
    .expect("state");
    let refused = server.ctl(&args).await.expect(2);
    assert!(refused.stderr().contains("other flags"), "{}", refused.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_platforms_csv_imports_through_a_mapping_naming_each_refused_row() {
    let server = Server::start().await;
    let file = server.path("onetrust.csv");
    std::fs::write(
        &file,
        "Identifier,Purpose Name,Status,Consent Date,Channel\n\
         ada@example.com,Marketing,Opted In,2026-03-01T09:00:00Z,web\n\
         bob@example.com,Marketing,Opted Out,1772355600,web\n\
         eve@example.com,Marketing,Maybe,2026-03-01,web\n\
         ,Marketing,Opted In,2026-03-01,web\n\
         ada@example.com,Analytics,accepted,2026-03-02,app\n",
    )
    .expect("file");
    let map = [
        "--map",
        "Identifier=identity.email",
        "--map",
        "Purpose Name=purpose",
        "--map",
        "Status=decision",
        "--map",
        "Consent Date=collected_at",
        "--map",
        "Channel=source",
    ];
    let mut args = vec!["import", file.to_str().expect("path")];
    args.extend(map);
    let run = server.ctl(&args).await.expect(1);
    assert_eq!(run.json()["written"], 3);
    assert_eq!(run.json()["refused"], 2);
    assert!(run.stderr().contains("line 4: Status:"), "{}", run.stderr());
    assert!(run.stderr().contains("line 5: identities:"), "{}", run.stderr());
    let ada = server
        .ctl(&["check", "--identity", "email=ada@example.com", "--purpose", "Marketing"])
        .await
        .expect(0);
    assert_eq!(ada.json()["record"]["collected_at"], "2026-03-01T09:00:00Z");
    server.ctl(&["check", "--identity", "email=bob@example.com", "--purpose", "Marketing"]).await.expect(1);
    // A server refusal names the row too: a purpose too long for it.
    let long = server.path("long.csv");
    std::fs::write(
        &long,
        format!("Identifier,Purpose Name,Status\nzed@example.com,{},yes\n", "p".repeat(300)),
    )
    .expect("file");
    let refused = server
        .ctl(&[
            "import",
            long.to_str().expect("path"),
            "--map",
            "Identifier=identity.email",
            "--map",
            "Purpose Name=purpose",
            "--map",
            "Status=decision",
        ])
        .await
        .expect(1);
    assert!(refused.stderr().contains("line 2: purpose:"), "{}", refused.stderr());
    // A Windows export (CRLF lines) names the same lines.
    let windows = server.path("windows.csv");
    std::fs::write(
        &windows,
        "Identifier,Status\r\nw1@example.com,yes\r\nw2@example.com,maybe\r\nw3@example.com,no\r\n",
    )
    .expect("file");
    let crlf = server
        .ctl(&[
            "import",
            windows.to_str().expect("path"),
            "--map",
            "Identifier=identity.email",
            "--map",
            "Status=decision",
            "--purpose",
            "Marketing",
        ])
        .await
        .expect(1);
    assert!(crlf.stderr().contains("line 3: Status:"), "{}", crlf.stderr());
    assert_eq!(crlf.json()["written"], 2);
    // The same row twice in a file (no time column to tell them apart) is
    // written twice: the later one decides.
    let twice = server.path("twice.csv");
    std::fs::write(&twice, "Identifier,Status\nt@example.com,yes\nt@example.com,no\nt@example.com,yes\n")
        .expect("file");
    let args_twice = [
        "import",
        twice.to_str().expect("path"),
        "--map",
        "Identifier=identity.email",
        "--map",
        "Status=decision",
        "--purpose",
        "Marketing",
    ];
    assert_eq!(server.ctl(&args_twice).await.expect(0).json()["written"], 3);
    server.ctl(&["check", "--identity", "email=t@example.com", "--purpose", "Marketing"]).await.expect(0);
    assert_eq!(server.ctl(&args_twice).await.expect(0).json()["written"], 0);
    // Rerunning the mapped import writes nothing.
    let rerun = server.ctl(&args).await.expect(1);
    assert_eq!((rerun.json()["written"].as_u64(), rerun.json()["skipped"].as_u64()), (Some(0), Some(3)));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_goes_at_the_rate_its_key_is_allowed() {
    let limits = tempfile::tempdir().expect("dir");
    let file = limits.path().join("consentd.toml");
    // 150 requests against 40 a second: most are refused RESOURCE_EXHAUSTED
    // at first, and the import waits them out.
    std::fs::write(&file, "[limits]\nrate_per_key = 40\nburst_per_key = 40\n").expect("config");
    let server = Server::start_with(|args| args.config = Some(file.clone())).await;
    let rows: String = (0..150)
        .map(|n| format!("{{\"identities\":[{{\"namespace\":\"user_id\",\"value\":\"{n}\"}}],\"purpose\":\"analytics\",\"decision\":\"granted\",\"collected_at\":\"2026-01-01T00:00:00Z\"}}\n"))
        .collect();
    let path = server.path("people.jsonl");
    std::fs::write(&path, rows).expect("file");
    // One retry of its own per call: the waiting is the import's.
    let run = server.ctl(&["--retries", "1", "import", path.to_str().expect("path")]).await.expect(0);
    assert_eq!((run.json()["written"].as_u64(), run.json()["refused"].as_u64()), (Some(150), Some(0)));
}
