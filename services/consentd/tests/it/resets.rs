//! Streams the server resets itself ("MadeYouReset", the class of
//! RUSTSEC-2024-0003): a client that keeps sending requests the server must
//! refuse with RST_STREAM — here, each with an unparseable `content-length` —
//! is sent away with GOAWAY after a bounded number, on both ports, and every
//! other client keeps being served.
//!
//! The frames are written by hand: an HTTP/2 client library refuses to send
//! such headers.

use std::net::SocketAddr;
use std::time::Duration;

use consent_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::health::http_get;
use crate::support::{TestServer, identity, record_request};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// Requests the abuser sends at most: far above the server's bound.
const ATTEMPTS: u32 = 5000;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![length[1], length[2], length[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One HPACK "literal header field without indexing, new name" (RFC 7541
/// §6.2.2), no Huffman coding; names and values here are short.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for text in [name, value] {
        block.push(u8::try_from(text.len()).unwrap());
        block.extend_from_slice(text.as_bytes());
    }
}

/// The header block of a gRPC-shaped POST to `path`, with `extra` headers.
fn request_headers(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    literal(&mut block, ":method", "POST");
    literal(&mut block, ":scheme", "http");
    literal(&mut block, ":path", path);
    literal(&mut block, ":authority", &addr.to_string());
    literal(&mut block, "content-type", "application/grpc");
    for (name, value) in extra {
        literal(&mut block, name, value);
    }
    block
}

/// Opens an HTTP/2 connection as a real client would: the preface, our
/// SETTINGS, and the server's acknowledged.
async fn open(addr: SocketAddr) -> (OwnedReadHalf, OwnedWriteHalf) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut reader, mut writer) = tcp.into_split();
    writer.write_all(PREFACE).await.unwrap();
    writer.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    loop {
        let (kind, flags, _) = read_frame(&mut reader).await.expect("server settings");
        if kind == SETTINGS && flags & ACK == 0 {
            writer.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
            return (reader, writer);
        }
    }
}

/// Reads one frame: its type and payload; `None` at the end of the
/// connection.
async fn read_frame(reader: &mut OwnedReadHalf) -> Option<(u8, u8, Vec<u8>)> {
    let mut header = [0; 9];
    reader.read_exact(&mut header).await.ok()?;
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).await.ok()?;
    Some((header[3], header[4], payload))
}

/// What the abusive connection saw.
#[derive(Debug)]
struct Outcome {
    sent: u32,
    /// RST_STREAM frames received (h2 may drop queued ones when it sends
    /// GOAWAY).
    resets: u32,
    goaway: Option<GoAway>,
}

#[derive(Debug, Clone, Copy)]
struct GoAway {
    last_stream: u32,
    code: u32,
}

/// The GOAWAY error code for "the peer behaves badly" (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Opens a connection and sends bad requests until the server sends GOAWAY
/// or closes it (or [`ATTEMPTS`] are spent).
async fn provoke_resets(addr: SocketAddr, path: &str) -> Outcome {
    let (mut reader, mut writer) = open(addr).await;
    let counting = tokio::spawn(async move {
        let (mut resets, mut goaway) = (0, None);
        while let Some((kind, _, payload)) = read_frame(&mut reader).await {
            match kind {
                RST_STREAM => resets += 1,
                GOAWAY if payload.len() >= 8 => {
                    let last_stream = u32::from_be_bytes(payload[..4].try_into().unwrap());
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    goaway = Some(GoAway { last_stream, code });
                }
                _ => {}
            }
        }
        (resets, goaway)
    });
    let block = request_headers(addr, path, &[("content-length", "not-a-number")]);
    let mut sent = 0;
    for n in 0..ATTEMPTS {
        let headers = frame(HEADERS, END_STREAM | END_HEADERS, 2 * n + 1, &block);
        if writer.write_all(&headers).await.is_err() {
            break;
        }
        sent += 1;
        if counting.is_finished() {
            break;
        }
    }
    // The server closes the connection after its GOAWAY; a server that
    // never does leaves the reader waiting, which the timeout turns into
    // "no GOAWAY".
    let _ = writer.shutdown().await;
    let (resets, goaway) = tokio::time::timeout(Duration::from_secs(30), counting)
        .await
        .map_or((u32::MAX, None), |joined| joined.unwrap());
    Outcome { sent, resets, goaway }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_makes_the_server_reset_streams_is_sent_away_on_both_ports() {
    let limit = 100;
    let server = TestServer::start_with(|config| config.limits.max_error_resets = limit).await;
    let running = server.running();
    for (port, addr, path) in [
        ("grpc", running.grpc_addr, "/consent.v1.ConsentService/QueryConsents"),
        ("http", running.http_addr, "/jentis"),
    ] {
        let outcome = provoke_resets(addr, path).await;
        let goaway = outcome.goaway.unwrap_or_else(|| panic!("{port}: no GOAWAY after {outcome:?}"));
        assert_eq!(goaway.code, ENHANCE_YOUR_CALM, "{port}: {outcome:?}");
        // Client streams are odd: the server handled at most `limit` + 1.
        let limit = u32::try_from(limit).unwrap();
        assert!(goaway.last_stream <= 2 * limit + 1, "{port}: past the bound: {outcome:?}");
        assert!(outcome.resets <= limit, "{port}: past the bound: {outcome:?}");
        assert!(outcome.sent > limit, "{port}: {outcome:?}");
    }

    // Everyone else is still served, on both ports.
    let mut client = server.client().await;
    client
        .record_consent(record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();
    assert_eq!(http_get(running.http_addr, "/healthz").await.0, 200);
}

const DATA: u8 = 0x0;
const PING: u8 = 0x6;

/// Refused calls are a normal answer under overload, and a client refused
/// many times keeps its connection and the calls running on it. The
/// requests' messages arrive after the server could have answered (a
/// client whose DATA frame trails its HEADERS, as on a busy machine): a
/// refusal sent first left the stream for HTTP/2 to reset, and the late
/// frames of streams h2 had forgotten cost the connection its reset
/// budget, so the client was sent away with GOAWAY (found by the overload
/// benchmark: "transport error" on admitted calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refused_again_and_again_keeps_its_connection() {
    const ROUNDS: u32 = 30;
    const PER_ROUND: u32 = 60;
    let server = TestServer::start_with(|config| {
        config.limits.concurrency_per_connection = 2;
        config.limits.max_error_resets = 100;
    })
    .await;
    let addr = server.running().grpc_addr;
    let (mut reader, mut writer) = open(addr).await;
    // A call whose message follows in a DATA frame.
    let block = request_headers(addr, "/consent.v1.ConsentService/CheckConsent", &[("te", "trailers")]);
    // Two calls whose messages never come hold the connection's two slots.
    for stream in [1, 3] {
        writer.write_all(&frame(HEADERS, END_HEADERS, stream, &block)).await.unwrap();
    }

    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let watching = tokio::spawn(async move {
        let (mut goaway, mut pong) = (None, false);
        while let Some((kind, flags, payload)) = read_frame(&mut reader).await {
            match kind {
                HEADERS if flags & END_STREAM != 0 => {
                    let _ = answered.send(());
                }
                GOAWAY if payload.len() >= 8 => {
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    goaway = Some(code);
                    break;
                }
                PING if flags & ACK != 0 => {
                    pong = true;
                    break;
                }
                _ => {}
            }
        }
        (goaway, pong)
    });

    // An empty CheckConsentRequest: uncompressed, zero bytes long.
    let message = [0u8; 5];
    let mut next = 5;
    let mut refused = 0;
    // A write fails once the server has closed the connection; the
    // assertions below then say why.
    'rounds: for _ in 0..ROUNDS {
        let streams: Vec<u32> = (0..PER_ROUND).map(|n| next + 2 * n).collect();
        next += 2 * PER_ROUND;
        for &stream in &streams {
            if writer.write_all(&frame(HEADERS, END_HEADERS, stream, &block)).await.is_err() {
                break 'rounds;
            }
        }
        // Time for the server to answer before the messages arrive (it
        // must not: the answers come after them).
        let waited = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(Some(())) = tokio::time::timeout_at(waited, answers.recv()).await {
            refused += 1;
        }
        for &stream in &streams {
            if writer.write_all(&frame(DATA, END_STREAM, stream, &message)).await.is_err() {
                break 'rounds;
            }
        }
        if watching.is_finished() {
            break;
        }
    }
    // Every refusal arrives, and the connection still answers a PING.
    let settle = tokio::time::Instant::now() + Duration::from_secs(10);
    while refused < ROUNDS * PER_ROUND {
        match tokio::time::timeout_at(settle, answers.recv()).await {
            Ok(Some(())) => refused += 1,
            Ok(None) | Err(_) => break,
        }
    }
    let _ = writer.write_all(&frame(PING, 0, 0, &[0; 8])).await;
    let (goaway, pong) = tokio::time::timeout(Duration::from_secs(10), watching).await.unwrap().unwrap();
    assert_eq!(goaway, None, "the connection was sent away after {refused} refusals");
    assert!(pong, "the connection stopped answering");
    assert_eq!(refused, ROUNDS * PER_ROUND);
}
