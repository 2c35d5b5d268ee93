//! The request pipeline: what every consent call passes before its handler,
//! written once and stacked in the same order in front of the gRPC services
//! and every vendor route ([`Admission`], one tower layer whose stages run
//! in this order):
//!
//! 1. **arrival**: the transport reads what the request presents (its
//!    credential, the client's address, the deadline it asked for), and
//!    renders any refusal below in its own shape — a gRPC status with rich
//!    details, or the vendor's error body ([`Transport`]);
//! 2. **admit**: a call beyond its connection's slots (gRPC) is refused at
//!    once, and while the server shuts down new calls are refused so
//!    clients retry on another replica;
//! 3. **authenticate**: the credential → a [`Principal`], so nothing below
//!    spends work on strangers;
//! 4. **rate**: the key's budget (governor), one per key for both ports;
//! 5. **shed**: a cap on calls in flight on the server, shared by both
//!    ports, refused at once when reached rather than queued. (tower's
//!    `LoadShed` drops the refused request unread, which makes HTTP/2 reset
//!    the stream: see [`refusal`] for why that is fatal to a connection
//!    under overload. This step reads it first, as every refusal here does.)
//! 6. **deadline**: the call ends after the smaller of the client's deadline
//!    and the server's cap.
//!
//! Probes (`/healthz`, gRPC health) and schema discovery sit outside the
//! pipeline: they need no key and are never shed.
//!
//! Every refusal is answered once the client has finished sending the
//! refused request ([`refusal::drained`]).

mod gate;
pub mod refusal;
mod request_id;
mod service;
mod steps;
pub mod tls;

use std::sync::Arc;

use tower::Layer;

pub use gate::{Gate, Limits};
pub use refusal::{Arrival, Credential, Refusal, Transport};
pub use request_id::{NewRequestId, REQUEST_ID, RequestIdLayers, request_id, request_ids};
pub use service::AdmissionService;
pub use steps::{Admit, Authenticate, Rate, Shed, Step};
pub use tls::{TlsFiles, TlsPem};

use service::Stages;

/// The pipeline for one transport: see the module documentation for the
/// order, which this type alone decides.
#[derive(Debug, Clone)]
pub struct Admission<T> {
    stages: Arc<Stages<T>>,
}

impl<T: Transport> Admission<T> {
    /// The pipeline in front of a transport's handlers, spending `gate`
    /// (shared by every transport of the server).
    pub fn new(transport: T, gate: Gate) -> Self {
        let stages = Stages {
            transport,
            admit: Admit::new(&gate),
            authenticate: Authenticate::new(&gate),
            rate: Rate::new(&gate),
            shed: Shed::new(&gate),
            max_deadline: gate.max_deadline(),
        };
        Self { stages: Arc::new(stages) }
    }
}

impl<T, S> Layer<S> for Admission<T> {
    type Service = AdmissionService<T, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService::new(Arc::clone(&self.stages), inner)
    }
}
