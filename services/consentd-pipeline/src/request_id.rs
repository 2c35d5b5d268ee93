//! Request ids, for both ports: the client's `x-request-id` when it is a
//! sane one (up to 128 of `A-Za-z0-9._:-`), else a new UUIDv7; echoed in the
//! response and recorded on the call's span.

use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower::util::MapRequestLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};

/// The header a request id travels in.
pub const REQUEST_ID: &str = "x-request-id";

/// The request-id layers, outermost first: an unusable client id is
/// dropped, a missing one made, and the id echoed in the response.
pub type RequestIdLayers<B> = Stack<
    PropagateRequestIdLayer,
    Stack<
        SetRequestIdLayer<NewRequestId>,
        Stack<MapRequestLayer<fn(http::Request<B>) -> http::Request<B>>, Identity>,
    >,
>;

/// See [`RequestIdLayers`].
pub fn request_ids<B>() -> RequestIdLayers<B> {
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(without_unusable_id as fn(http::Request<B>) -> http::Request<B>))
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .into_inner()
}

/// `request` without its `x-request-id` if that is not one we would log:
/// ids end up in logs and spans, so their length and alphabet are bounded.
fn without_unusable_id<B>(mut request: http::Request<B>) -> http::Request<B> {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 128
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Makes UUIDv7 request ids: ordered by their millisecond, so logs sort by
/// them; within one, their random bits decide (uuid's shared counter,
/// which would order them further, is a lock every call takes).
#[derive(Debug, Clone, Copy)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext));
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        http::HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).ok().map(RequestId::new)
    }
}

/// The request id of `headers` (set by these layers before any handler).
pub fn request_id(headers: &http::HeaderMap) -> &str {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> http::Request<()> {
        http::Request::builder().header(REQUEST_ID, id).body(()).unwrap()
    }

    #[test]
    fn sane_ids_are_kept_and_others_dropped() {
        assert_eq!(request_id(without_unusable_id(with_id("abc-1.2:3_x")).headers()), "abc-1.2:3_x");
        for bad in ["", "a b", "a/b", &"x".repeat(129), "é"] {
            let request = http::Request::builder()
                .header(REQUEST_ID, http::HeaderValue::from_bytes(bad.as_bytes()).unwrap())
                .body(())
                .unwrap();
            assert!(without_unusable_id(request).headers().get(REQUEST_ID).is_none(), "{bad:?} kept");
        }
    }
}
