//! The current key set: loaded once, then re-read on a timer and when a
//! token names a key not seen yet.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::JwtError;
use crate::keys::KeySet;
use crate::source::Source;

/// The least time between two re-reads caused by unknown `kid`s, so that a
/// flood of tokens naming made-up keys costs at most one read per period.
pub(crate) const UNKNOWN_KID_REREAD_GAP: Duration = Duration::from_secs(10);

/// The JWKS as last read successfully, and how to read it again.
#[derive(Debug)]
pub(crate) struct Jwks {
    source: Source,
    current: RwLock<Arc<KeySet>>,
    /// Held across a re-read, so that re-reads never overlap: an older read
    /// finishing last cannot put back keys a newer one removed.
    reread: tokio::sync::Mutex<RereadState>,
}

#[derive(Debug, Default)]
struct RereadState {
    /// The bytes last read, good or bad: an unchanged document is neither
    /// parsed again nor, when bad, warned about again.
    last_document: Option<Vec<u8>>,
    /// When an unknown `kid` last caused a re-read.
    last_unknown_kid: Option<Instant>,
}

impl Jwks {
    /// The key set read from `source`, which must hold a usable key.
    pub(crate) async fn load(source: Source) -> Result<Arc<Self>, JwtError> {
        let source_name = source.name();
        let document = source
            .read()
            .await
            .map_err(|reason| JwtError::Load { source_name: source_name.clone(), reason })?;
        let keys = parse(&source_name, &document)
            .map_err(|reason| JwtError::Load { source_name: source_name.clone(), reason })?;
        if keys.is_empty() {
            return Err(JwtError::NoUsableKey(source_name));
        }
        tracing::info!(source = %source_name, keys = keys.len(), "JWKS loaded");
        Ok(Arc::new(Self {
            source,
            current: RwLock::new(Arc::new(keys)),
            reread: tokio::sync::Mutex::new(RereadState {
                last_document: Some(document),
                last_unknown_kid: None,
            }),
        }))
    }

    /// The key set in force now.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        // A writer only swaps an Arc, so a poisoned lock still holds a whole set.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the JWKS again (the periodic re-read).
    pub(crate) async fn reread(&self) {
        let mut state = self.reread.lock().await;
        self.reread_locked(&mut state).await;
    }

    /// Reads the JWKS again because a token named a key not in the current
    /// set, unless that happened less than [`UNKNOWN_KID_REREAD_GAP`] ago.
    /// Tokens arriving while a re-read runs wait for it and then look again,
    /// so a key published just now works for all of them.
    pub(crate) async fn reread_for_unknown_kid(&self) {
        let mut state = self.reread.lock().await;
        if state.last_unknown_kid.is_some_and(|last| last.elapsed() < UNKNOWN_KID_REREAD_GAP) {
            return;
        }
        state.last_unknown_kid = Some(Instant::now());
        self.reread_locked(&mut state).await;
    }

    async fn reread_locked(&self, state: &mut RereadState) {
        let source_name = self.source.name();
        let document = match self.source.read().await {
            Ok(document) => document,
            Err(reason) => {
                tracing::warn!(source = %source_name, %reason,
                    "cannot re-read the JWKS; keeping the last good key set");
                return;
            }
        };
        if state.last_document.as_deref() == Some(document.as_slice()) {
            return;
        }
        match parse(&source_name, &document) {
            Ok(keys) if !keys.is_empty() => {
                tracing::info!(source = %source_name, keys = keys.len(), "JWKS changed; new key set in force");
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            }
            Ok(_) => tracing::warn!(source = %source_name,
                "the re-read JWKS holds no usable key; keeping the last good key set"),
            Err(reason) => tracing::warn!(source = %source_name, %reason,
                "the re-read JWKS is unusable; keeping the last good key set"),
        }
        state.last_document = Some(document);
    }
}

/// The usable keys of `document`, the skipped ones logged.
fn parse(source_name: &str, document: &[u8]) -> Result<KeySet, String> {
    let (keys, skipped) = KeySet::parse(document)?;
    for reason in skipped {
        tracing::debug!(source = %source_name, %reason, "JWKS entry skipped");
    }
    Ok(keys)
}

/// The periodic re-read, which ends when this handle is dropped.
#[derive(Debug)]
pub(crate) struct RefreshTask(tokio::task::AbortHandle);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts re-reading `jwks` every `every`.
pub(crate) fn spawn_refresh(jwks: &Arc<Jwks>, every: Duration) -> RefreshTask {
    let jwks = Arc::clone(jwks);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        // A slow read delays the next one instead of causing a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            jwks.reread().await;
        }
    });
    RefreshTask(task.abort_handle())
}
