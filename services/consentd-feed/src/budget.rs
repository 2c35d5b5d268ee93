//! The byte budgets of the feed's buffers: each stream's own, and the one
//! all streams of a server share. An item holds its bytes of both until the
//! stream's reader takes it, so memory stays bounded whatever subscribers do.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes that buffered messages may hold: what is left, and the size (the
/// most one message may take).
#[derive(Debug, Clone)]
pub(super) struct ByteBudget {
    left: Arc<Semaphore>,
    size: u32,
}

impl ByteBudget {
    pub(super) fn new(bytes: usize) -> Self {
        let size = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        Self { left: Arc::new(Semaphore::new(size as usize)), size }
    }

    /// Takes `bytes` (all of it, for a message larger than the whole
    /// budget), waiting for room; `None` once the budget is closed.
    async fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX).clamp(1, self.size);
        Arc::clone(&self.left).acquire_many_owned(bytes).await.ok()
    }
}

/// A stream's byte budget, and the server's, shared by all its streams.
#[derive(Debug)]
pub(super) struct Budget {
    pub(super) own: ByteBudget,
    pub(super) shared: ByteBudget,
}

/// Bytes taken from both budgets, given back on drop.
#[derive(Debug)]
pub(super) struct Charge {
    _own: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

impl Budget {
    /// Takes `bytes` from both budgets, waiting for room.
    pub(super) async fn charge(&self, bytes: usize) -> Option<Charge> {
        let own = self.own.take(bytes).await?;
        let shared = self.shared.take(bytes).await?;
        Some(Charge { _own: own, _shared: shared })
    }
}
