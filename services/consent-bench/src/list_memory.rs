//! A vendor list answered whole (Secure Privacy's documented
//! `GET /api/universalconsent`) streams page by page: the server's memory
//! while it sends the list should not grow with the list. Writes `records`
//! current records (100 purposes a person), resets the server's peak
//! resident set, reads the whole list over HTTP/1.1 counting its items
//! without keeping it, and reports the peak, for each size asked for.

use std::time::Instant;

use consent_store::testing::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::workloads::Deployment;

/// Purposes per person: one RecordConsent call writes this many records.
const PURPOSES: usize = 100;

/// One size's measurement.
#[derive(Debug)]
pub(crate) struct ListMemory {
    pub(crate) records: usize,
    pub(crate) items: usize,
    pub(crate) mib_sent: f64,
    pub(crate) seconds: f64,
    pub(crate) rss_before_mib: f64,
    pub(crate) peak_during_mib: f64,
}

impl ListMemory {
    pub(crate) fn markdown(results: &[Self]) -> String {
        let mut out = String::from(
            "| records | items listed | MiB sent | seconds | server RSS before | server peak RSS during the list |\n|---|---|---|---|---|---|\n",
        );
        for r in results {
            out.push_str(&format!(
                "| {} | {} | {:.1} | {:.2} | {:.1} MiB | {:.1} MiB |\n",
                r.records, r.items, r.mib_sent, r.seconds, r.rss_before_mib, r.peak_during_mib
            ));
        }
        out
    }
}

pub(crate) async fn list_memory(binary: &std::path::Path, backend: Backend, records: usize) -> ListMemory {
    let extra = format!("\n[gateway]\nmax_list_records = {}\n", records * 2);
    let deployment = Deployment::start_configured(binary, backend, &extra).await;
    crate::people::write(&deployment, records.div_ceil(PURPOSES), PURPOSES, |_| None).await;
    let stats = deployment.server.stats();
    stats.reset_peak();
    let rss_before_mib = stats.memory_mib().0;
    let started = Instant::now();
    let (items, bytes) = read_whole_list(deployment.http(), deployment.bearer()).await;
    let seconds = started.elapsed().as_secs_f64();
    let result = ListMemory {
        records,
        items,
        mib_sent: bytes as f64 / (1024.0 * 1024.0),
        seconds,
        rss_before_mib,
        peak_during_mib: stats.memory_mib().1,
    };
    eprintln!("  {result:?}");
    result
}

/// Reads the whole list, keeping nothing: its items (counted by their
/// `"ClientId"` keys) and its bytes.
async fn read_whole_list(http: std::net::SocketAddr, bearer: &str) -> (usize, usize) {
    let mut socket = tokio::net::TcpStream::connect(http).await.expect("connects");
    let head = format!(
        "GET /api/universalconsent HTTP/1.1\r\nhost: bench\r\nauthorization: {bearer}\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("request sent");
    let needle = b"\"ClientId\"";
    let (mut items, mut bytes, mut tail) = (0, 0, Vec::new());
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = socket.read(&mut buffer).await.expect("response read");
        if read == 0 {
            break;
        }
        bytes += read;
        // The last few bytes of the previous read, so a key split across
        // two reads is counted once.
        tail.extend_from_slice(&buffer[..read]);
        items += tail.windows(needle.len()).filter(|window| window == needle).count();
        let keep = tail.len().saturating_sub(needle.len() - 1);
        tail.drain(..keep);
    }
    (items, bytes)
}
