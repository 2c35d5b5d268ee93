//! On a terminal (a pseudo-terminal from util-linux's `script`): tables by
//! default, and the progress bar of export and import.

use crate::support::Server;

/// Runs consentctl under a pseudo-terminal 120 columns wide; returns what
/// the terminal showed.
async fn on_terminal(server: &Server, args: &str) -> String {
    let line = format!("stty cols 120 rows 40; {} {args}", env!("CARGO_BIN_EXE_consentctl"));
    let command = server.command();
    // The program is `script`, with consentctl's environment.
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).current_dir(server.dir.path());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let output =
        tokio::task::spawn_blocking(move || script.output().expect("script runs")).await.expect("ran");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_a_table_and_progress_bars() {
    let server = Server::start().await;
    for user in 0..30 {
        server
            .ctl(&[
                "record",
                "--identity",
                &format!("user_id={user}"),
                "--grant",
                "analytics",
                "--deny",
                "ads",
            ])
            .await
            .expect(0);
    }
    let table = on_terminal(&server, "query --history --limit 3").await;
    assert!(table.contains('┌') && table.contains("│ revision") && table.contains("analytics"), "{table}");

    let shown = on_terminal(&server, "export --history --page-size 10 --out all.jsonl").await;
    assert!(shown.contains("60 records") && shown.contains("100%") && shown.contains("ETA"), "{shown}");
    assert!(shown.contains("records/s"), "{shown}");

    let shown = on_terminal(&server, "import all.jsonl").await;
    assert!(shown.contains("60 written, 0 skipped, 0 refused") && shown.contains("100%"), "{shown}");
}
