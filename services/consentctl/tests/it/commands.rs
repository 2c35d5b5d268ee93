//! record, update, check, get and query: outputs a program can read, exit
//! codes a script can branch on, errors that name the field.

use crate::support::Server;

#[tokio::test(flavor = "multi_thread")]
async fn record_check_update_get_and_query_through_the_binary() {
    let server = Server::start().await;
    let recorded = server
        .ctl(&[
            "record",
            "--identity",
            "email=ada@example.com",
            "--identity",
            "user_id=42",
            "--grant",
            "analytics",
            "--deny",
            "ads:google",
            "--ip",
            "192.0.2.7",
            "--source",
            "web",
            "-o",
            "json",
        ])
        .await
        .expect(0)
        .json();
    let records = recorded["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["purpose"], "analytics");
    assert_eq!(records[0]["decision"], "granted");
    assert_eq!(records[1]["target"], "google");
    assert_eq!(records[1]["evidence"]["ip"], "192.0.2.7");
    let revision = recorded["revision"].as_i64().expect("revision");
    assert_eq!(revision, 2);

    // GRANTED exits 0, anything else 1; the answer parses as JSON.
    let granted =
        server.ctl(&["check", "--identity", "user_id=42", "--purpose", "analytics"]).await.expect(0).json();
    assert_eq!(granted["status"], "granted");
    assert_eq!(granted["record"]["id"], records[0]["id"]);
    let denied = server
        .ctl(&["check", "--identity", "email=ada@example.com", "--purpose", "ads", "--target", "google"])
        .await
        .expect(1)
        .json();
    assert_eq!(denied["status"], "denied");
    let unknown =
        server.ctl(&["check", "--identity", "email=nobody@example.com", "--purpose", "ads"]).await.expect(1);
    assert_eq!(unknown.json()["status"], "unknown");

    // An update with a stale expected revision is refused (exit 2, the
    // reason on stderr); with the current one it is made.
    let stale = server
        .ctl(&[
            "update",
            "--identity",
            "user_id=42",
            "--purpose",
            "analytics",
            "--decision",
            "denied",
            "--expected-revision",
            "2",
        ])
        .await
        .expect(2);
    assert!(stale.stderr().contains("FAILED_PRECONDITION"), "{}", stale.stderr());
    let updated = server
        .ctl(&[
            "update",
            "--identity",
            "user_id=42",
            "--purpose",
            "analytics",
            "--decision",
            "denied",
            "--expected-revision",
            "1",
            "-o",
            "json",
        ])
        .await
        .expect(0)
        .json();
    assert_eq!(updated["records"][0]["kind"], "updated");
    server.ctl(&["check", "--identity", "user_id=42", "--purpose", "analytics"]).await.expect(1);

    // get: by id, and the current record of a purpose.
    let id = records[1]["id"].as_str().expect("id");
    let by_id = server.ctl(&["get", "--record-id", id]).await.expect(0).json_lines();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["id"], id);
    let current = server
        .ctl(&["get", "--identity", "email=ada@example.com", "--purpose", "analytics"])
        .await
        .expect(0)
        .json_lines();
    assert_eq!(current[0]["decision"], "denied");

    // query: current state, history, a filter, a limit; JSON lines and CSV.
    assert_eq!(server.ctl(&["query"]).await.expect(0).json_lines().len(), 2);
    let history = server.ctl(&["query", "--history"]).await.expect(0).json_lines();
    let revisions: Vec<i64> = history.iter().map(|r| r["revision"].as_i64().expect("revision")).collect();
    assert_eq!(revisions, [1, 2, 3]);
    assert_eq!(server.ctl(&["query", "--history", "--limit", "2"]).await.expect(0).json_lines().len(), 2);
    let denials = server.ctl(&["query", "--decision", "denied"]).await.expect(0).json_lines();
    assert_eq!(denials.len(), 2);
    let csv = server.ctl(&["query", "--history", "-o", "csv"]).await.expect(0).stdout();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("a header").clone();
    assert_eq!(&header[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("a row")).collect();
    assert_eq!(rows.len(), 3);
    let purpose = header.iter().position(|column| column == "purpose").expect("a purpose column");
    assert_eq!(&rows[2][purpose], "analytics");
    let table = server.ctl(&["query", "-o", "table"]).await.expect(0).stdout();
    assert!(table.contains("purpose") && table.contains("analytics") && table.contains('│'), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_exit_2_naming_the_field_and_write_nothing() {
    let server = Server::start().await;
    let bad = server
        .ctl(&["record", "--identity", "Email=ada@example.com", "--grant", "analytics"])
        .await
        .expect(2);
    assert!(
        bad.stderr().contains("INVALID_ARGUMENT") && bad.stderr().contains("identities[0].namespace"),
        "{}",
        bad.stderr()
    );
    let flag = server.ctl(&["update", "--identity", "user_id=1", "--decision", "maybe"]).await.expect(2);
    assert!(flag.stderr().contains("--decision"), "{}", flag.stderr());
    assert!(server.ctl(&["query", "--history"]).await.expect(0).stdout().is_empty());
    // A file that cannot be read ends an import at once (a directory reads
    // as an error on every line, for ever, if taken row by row).
    let directory = server.path("exports");
    std::fs::create_dir(&directory).expect("directory");
    let unreadable = server.ctl(&["import", directory.to_str().expect("path")]).await.expect(2);
    assert!(unreadable.stderr().contains("cannot read"), "{}", unreadable.stderr());
    // A check of a subject that was never seen is an answer, not an error.
    server
        .ctl(&["check", "--subject-id", "00000000-0000-0000-0000-000000000001", "--purpose", "x"])
        .await
        .expect(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_comes_from_flags_environment_or_a_profile() {
    let server = Server::start().await;
    // A wrong key in the environment: UNAUTHENTICATED, exit 2.
    let mut command = server.command();
    command.env("CONSENTD_KEY", "nope.nope").args(["query"]);
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("UNAUTHENTICATED"));

    // A profile supplies address and key; a flag wins over it.
    let profile = server.path("profile.toml");
    std::fs::write(&profile, format!("addr = \"http://{}\"\nkey = \"{}\"\n", server.addr, server.key))
        .expect("profile");
    let with_profile = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consentctl"));
        command.env_remove("CONSENTD_ADDR").env_remove("CONSENTD_KEY").env("CONSENTCTL_PROFILE", &profile);
        command
    };
    let run = with_profile()
        .args(["record", "--identity", "user_id=7", "--grant", "analytics"])
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let overridden = with_profile().args(["--key", "nope.nope", "query"]).output().expect("runs");
    assert_eq!(overridden.status.code(), Some(2));
    // A profile with a key it does not know is refused, naming it.
    std::fs::write(&profile, "adress = \"x\"\n").expect("profile");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consentctl"));
    let typo = command.env("CONSENTCTL_PROFILE", &profile).arg("query").output().expect("runs");
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("adress"));
}
