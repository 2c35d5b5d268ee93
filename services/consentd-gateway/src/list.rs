//! A vendor's documented list call answered whole: every matching record,
//! streamed as one JSON array page by page, so memory stays that of a page
//! however long the list.
//!
//! The records are counted first (a read of the same pages, kept to the
//! count): a list longer than `[gateway] max_list_records` is refused in the
//! vendor's shape before anything is sent, rather than cut short. Records
//! written between the count and the stream make the list longer; if that
//! takes it past the maximum the stream is broken off, so the client sees a
//! failed transfer, never a list that silently lacks records.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use consent_adapter::{Failure, VendorAdapter};
use consent_core::page::MAX_PAGE_SIZE;
use consent_core::{ConsentError, QueryConsents, TenantId};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{Gateway, GatewayStore};

/// Chunks (pages) buffered between the reader and the connection.
const CHUNKS_IN_FLIGHT: usize = 2;

/// How long a client may leave a chunk unread before its list is broken
/// off (as a Subscribe stream's `send_timeout`): a stalled reader holds its
/// pages and a list slot no longer than this.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Every record matching `query`, as the vendor's list: refused with a bad
/// request naming `PageSize` when more than the maximum match.
pub(crate) async fn whole<S: GatewayStore>(
    gateway: &Arc<Gateway<S>>,
    adapter: &Arc<dyn VendorAdapter>,
    tenant: TenantId,
    query: QueryConsents,
) -> Result<Response, ConsentError> {
    // A whole list runs past the call that started it (the pipeline's
    // in-flight cap and deadline end with the answer's head): it holds a
    // slot of its own until its last chunk is sent.
    let Ok(slot) = Arc::clone(&gateway.whole_lists).try_acquire_owned() else {
        return Ok(crate::http_response(adapter.encode_failure(&Failure::TooManyRequests)));
    };
    let max = gateway.max_list_records;
    let mut count = 0;
    let mut pages = Pages::new(query.clone());
    while let Some(records) = pages.next(gateway, &tenant).await? {
        count += records;
        if count > max {
            return Ok(too_many(adapter.as_ref(), max));
        }
    }
    let (chunks, receiver) = mpsc::channel::<Result<Bytes, ListError>>(CHUNKS_IN_FLIGHT);
    let (gateway, adapter) = (Arc::clone(gateway), Arc::clone(adapter));
    tokio::spawn(async move {
        if let Err(err) = stream(&gateway, adapter.as_ref(), &tenant, query, &chunks).await {
            tracing::warn!(error = %err, vendor = adapter.name(), "a whole list was broken off");
            let _ = chunks.send_timeout(Err(err), SEND_TIMEOUT).await;
        }
        drop(slot);
    });
    let mut response = Response::new(Body::from_stream(ReceiverStream::new(receiver)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Sends `[`, each page's items, `]`.
async fn stream<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    tenant: &TenantId,
    query: QueryConsents,
    chunks: &mpsc::Sender<Result<Bytes, ListError>>,
) -> Result<(), ListError> {
    let mut pages = Pages::new(query);
    let (mut sent, mut chunk, mut first) = (0_usize, b"[".to_vec(), true);
    while let Some(records) = pages.next(gateway, tenant).await? {
        sent += records;
        if sent > gateway.max_list_records {
            return Err(ListError::GrewPastMaximum(gateway.max_list_records));
        }
        let views = gateway.service.views(tenant, std::mem::take(&mut pages.records)).await?;
        for view in &views {
            // Items of every page but the very first follow a comma.
            if !first {
                chunk.push(b',');
            }
            first = false;
            let item = adapter.encode_list_item(view).ok_or(ListError::NoItemEncoding)?;
            serde_json::to_writer(&mut chunk, &item).map_err(|_| ListError::NoItemEncoding)?;
        }
        match chunks.send_timeout(Ok(Bytes::from(std::mem::take(&mut chunk))), SEND_TIMEOUT).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Ok(()), // The client left.
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => return Err(ListError::Stalled),
        }
    }
    chunk.push(b']');
    let _ = chunks.send_timeout(Ok(Bytes::from(chunk)), SEND_TIMEOUT).await;
    Ok(())
}

/// The pages of a query, read one after another.
struct Pages {
    query: QueryConsents,
    done: bool,
    /// The last page's records.
    records: Vec<consent_core::ConsentRecord>,
}

impl Pages {
    fn new(mut query: QueryConsents) -> Self {
        query.page_size = i32::try_from(MAX_PAGE_SIZE).unwrap_or(i32::MAX);
        query.page_token.clear();
        Self { query, done: false, records: Vec::new() }
    }

    /// Reads the next page; how many records it holds, `None` after the
    /// last.
    async fn next<S: GatewayStore>(
        &mut self,
        gateway: &Gateway<S>,
        tenant: &TenantId,
    ) -> Result<Option<usize>, ConsentError> {
        if self.done {
            return Ok(None);
        }
        let page = gateway.service.query(tenant, self.query.clone(), gateway.max_response_bytes).await?;
        self.done = page.next_page_token.is_empty();
        self.query.page_token = page.next_page_token;
        self.records = page.records;
        Ok(Some(self.records.len()))
    }
}

/// Why a streamed list was broken off.
#[derive(Debug, thiserror::Error)]
enum ListError {
    #[error(transparent)]
    Store(#[from] ConsentError),
    #[error("more than {0} records matched while the list was sent")]
    GrewPastMaximum(usize),
    #[error("the adapter cannot encode a list item")]
    NoItemEncoding,
    #[error("the client left a chunk unread for {SEND_TIMEOUT:?}")]
    Stalled,
}

/// The refusal of a list longer than `max`, in the vendor's shape, naming
/// the field that asks for pages instead (Secure Privacy's, the one vendor
/// whose list is documented whole).
fn too_many(adapter: &dyn VendorAdapter, max: usize) -> Response {
    let failure = Failure::bad(
        "PageSize",
        format!(
            "more than {max} records match: narrow FromDate and ToDate, or read the list in pages with PageSize"
        ),
    );
    crate::http_response(adapter.encode_failure(&failure))
}
