//! tail: every event once, in order, across a server restart and across a
//! restart of consentctl itself (its resume file).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::Server;

/// The revisions of the events a tail printed, as they come.
struct Tail {
    child: std::process::Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Tail {
    fn start(server: &Server, args: &[&str]) -> Self {
        let mut command = server.command();
        command.arg("tail").args(args).args(["-o", "json"]).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().expect("tail starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(serde_json::from_str(&line).expect("a JSON line"));
            }
        });
        Self { child, lines }
    }

    async fn revisions(&self, count: usize) -> Vec<i64> {
        let mut revisions = Vec::new();
        while revisions.len() < count {
            let line = tokio::task::block_in_place(|| self.lines.recv_timeout(Duration::from_secs(60)))
                .unwrap_or_else(|_| panic!("no event after {revisions:?}"));
            revisions.push(line["revision"].as_i64().expect("revision"));
        }
        revisions
    }
}

async fn record(server: &Server, user: u32) {
    server.ctl(&["record", "--identity", &format!("user_id={user}"), "--grant", "analytics"]).await.expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_resumes_across_a_server_restart_and_its_own_restart() {
    let mut server = Server::start().await;
    for user in 1..=3 {
        record(&server, user).await;
    }
    let resume = server.path("tail.token");
    let resume_arg = resume.to_str().expect("path").to_owned();
    let mut tail = Tail::start(&server, &["--from-beginning", "--resume-file", &resume_arg]);
    let mut seen = tail.revisions(3).await;
    record(&server, 4).await;
    record(&server, 5).await;
    seen.extend(tail.revisions(2).await);

    // The server goes away and comes back: the tail reconnects by itself
    // and goes on after what it printed.
    server.restart().await;
    record(&server, 6).await;
    record(&server, 7).await;
    seen.extend(tail.revisions(2).await);
    // Heartbeats move the resume file past revision 7 while idle.
    tokio::time::sleep(Duration::from_millis(800)).await;
    tail.child.kill().expect("tail killed");
    tail.child.wait().expect("tail reaped");
    // Nothing more was printed: no event twice.
    assert!(tail.lines.try_recv().is_err());

    // consentctl itself restarts: its resume file carries it on.
    record(&server, 8).await;
    record(&server, 9).await;
    let rerun = server
        .ctl(&["tail", "--from-beginning", "--resume-file", &resume_arg, "--count", "2"])
        .await
        .expect(0);
    seen.extend(rerun.json_lines().iter().map(|line| line["revision"].as_i64().expect("revision")));
    assert_eq!(seen, (1..=9).collect::<Vec<i64>>());
}
