//! Looking a client address up in a GeoIP2/GeoLite2 City or Country
//! database.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use maxminddb::{MaxMindDbError, Reader, geoip2};

use crate::error::GeoError;
use crate::location::Fields;
use crate::values;

/// An opened database, held in memory.
pub(crate) struct Database {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
    /// Whether a failed lookup has been reported at `warn` yet: a broken
    /// database fails every request, and one warning says as much.
    warned: AtomicBool,
}

impl Database {
    /// Reads the whole file. Reading rather than mapping it keeps unsafe code
    /// out, and the update tools replace the file on disk, which cannot then
    /// change a database under a running lookup.
    pub(crate) fn open(path: &Path) -> Result<Self, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read { path: path.to_owned(), source })?;
        let reader = Reader::from_source(bytes)
            .map_err(|source| GeoError::NotMaxMindDb { path: path.to_owned(), source })?;
        let metadata = reader.metadata();
        if !gives_locations(&metadata.database_type) {
            tracing::warn!(
                path = %path.display(),
                database_type = %metadata.database_type,
                "the GeoIP database is not a City or Country database; its lookups may find no location"
            );
        }
        tracing::info!(
            path = %path.display(),
            database_type = %metadata.database_type,
            build_epoch = metadata.build_epoch,
            "GeoIP database opened"
        );
        Ok(Self { path: path.to_owned(), reader, warned: AtomicBool::new(false) })
    }

    /// What the database says of `address`; nothing where it has no record
    /// (private and loopback addresses never have one) or cannot be read.
    pub(crate) fn lookup(&self, address: IpAddr) -> Fields {
        self.record(address).unwrap_or_else(|error| {
            // The address itself stays out of the log: it is personal data.
            if self.warned.swap(true, Ordering::Relaxed) {
                tracing::debug!(path = %self.path.display(), %error, "GeoIP lookup failed");
            } else {
                tracing::warn!(path = %self.path.display(), %error, "GeoIP lookup failed");
            }
            Fields::default()
        })
    }

    fn record(&self, address: IpAddr) -> Result<Fields, MaxMindDbError> {
        // A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`: look
        // them up as the IPv4 addresses they are.
        let address = address.to_canonical();
        if address.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(Fields::default());
        }
        // A Country database's records are City records without the city
        // and subdivisions, so one shape reads both.
        let Some(record) = self.reader.lookup(address)?.decode::<geoip2::City<'_>>()? else {
            return Ok(Fields::default());
        };
        Ok(Fields {
            country: record.country.iso_code.and_then(values::country),
            region: record
                .subdivisions
                .first()
                .and_then(|subdivision| subdivision.iso_code)
                .and_then(values::region),
            city: record.city.names.english.and_then(values::city),
        })
    }
}

/// Whether a `database_type` is one whose records have a country: GeoIP2 and
/// GeoLite2 City and Country, Enterprise, and the look-alikes named so.
fn gives_locations(database_type: &str) -> bool {
    ["City", "Country", "Enterprise"].iter().any(|kind| database_type.contains(kind))
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metadata = self.reader.metadata();
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("database_type", &metadata.database_type)
            .field("build_epoch", &metadata.build_epoch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_database_types() {
        for kind in ["GeoIP2-City", "GeoLite2-Country", "GeoIP2-Enterprise", "DBIP-City-Lite"] {
            assert!(gives_locations(kind), "{kind}");
        }
        for kind in ["GeoLite2-ASN", "GeoIP2-Anonymous-IP", ""] {
            assert!(!gives_locations(kind), "{kind}");
        }
    }
}
