//! What can go wrong when the locator is set up. Looking a request up never
//! fails: a source that cannot answer leaves its fields unknown.

use std::path::PathBuf;

/// Why a [`crate::Locator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The configured database file could not be read.
    #[error("cannot read the GeoIP database {}: {source}", path.display())]
    Read {
        /// The configured file.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// The configured file is not a MaxMind DB (GeoIP2/GeoLite2) database.
    #[error("{} is not a MaxMind DB (GeoIP2/GeoLite2 .mmdb) file: {source}", path.display())]
    NotMaxMindDb {
        /// The configured file.
        path: PathBuf,
        /// What the reader found wrong with it.
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}
