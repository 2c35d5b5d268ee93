//! Small GeoIP2-City databases for tests, this crate's and the gateway's:
//! real ones are licensed downloads, and tests need known answers.
//!
//! The file is a MaxMind DB as GeoIP2 City databases are laid out: an IPv6
//! search tree with IPv4 networks under `::/96` (where readers look IPv4
//! addresses up), and records of the GeoIP2 City shape holding only what
//! [`crate::Locator`] reads.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use maxminddb_writer::Database;
use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;

/// One network of a test database: `((address, prefix length), country ISO
/// code, subdivision ISO code, English city name)`. An empty string leaves
/// that field out of the record.
pub type CityEntry<'a> = ((IpAddr, u8), &'a str, &'a str, &'a str);

/// Writes a GeoIP2-City database holding `entries` to `path`.
///
/// Where networks overlap, the longer prefix wins, as in real databases.
/// A prefix longer than its address family allows is an `InvalidInput`
/// error.
pub fn write_city_database(path: &Path, entries: &[CityEntry<'_>]) -> io::Result<()> {
    let mut database = Database::default();
    describe(&mut database);
    let mut networks = entries
        .iter()
        .map(|&((address, length), country, subdivision, city)| {
            let (network, bits) = tree_prefix(address, length)?;
            Ok((network, bits, CityRecord::new(country, subdivision, city)))
        })
        .collect::<io::Result<Vec<_>>>()?;
    // Shorter prefixes first: the writer replaces a whole subtree when a
    // network is inserted, so a longer prefix must come after any that
    // contains it.
    networks.sort_by_key(|(_, bits, _)| *bits);
    for (network, bits, record) in networks {
        let record = database.insert_value(record).map_err(io::Error::other)?;
        database.insert_node(IpAddrWithMask::new(IpAddr::V6(network), bits), record);
    }
    let mut bytes = Vec::new();
    database.write_to(&mut bytes).map_err(io::Error::other)?;
    std::fs::write(path, bytes)
}

/// The metadata a GeoIP2 City database carries.
fn describe(database: &mut Database) {
    let metadata = &mut database.metadata;
    metadata.ip_version = IpVersion::V6;
    metadata.database_type = "GeoIP2-City".to_owned();
    metadata.languages = vec!["en".to_owned()];
    metadata.binary_format_major_version = 2;
    metadata.binary_format_minor_version = 0;
    metadata.build_epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    metadata.description.insert("en".to_owned(), "consentd test database".to_owned());
}

/// A network's place in the IPv6 tree: IPv4 `a.b.c.d/n` is `::a.b.c.d/96+n`,
/// where readers of an IPv6 database look IPv4 addresses up.
fn tree_prefix(address: IpAddr, length: u8) -> io::Result<(Ipv6Addr, u8)> {
    let placed = match address {
        IpAddr::V4(v4) => (length <= 32).then(|| (v4.to_ipv6_compatible(), length + 96)),
        IpAddr::V6(v6) => (length <= 128).then_some((v6, length)),
    };
    placed.ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{address}/{length} is not a network"))
    })
}

/// The part of a GeoIP2 City record that the locator reads.
#[derive(Serialize)]
struct CityRecord<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<IsoCode<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<IsoCode<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<Named<'a>>,
}

#[derive(Serialize)]
struct IsoCode<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct Named<'a> {
    names: BTreeMap<&'static str, &'a str>,
}

impl<'a> CityRecord<'a> {
    fn new(country: &'a str, subdivision: &'a str, city: &'a str) -> Self {
        let given = |value: &'a str| (!value.is_empty()).then_some(value);
        Self {
            country: given(country).map(|iso_code| IsoCode { iso_code }),
            subdivisions: given(subdivision).map(|iso_code| IsoCode { iso_code }).into_iter().collect(),
            city: given(city).map(|name| Named { names: BTreeMap::from([("en", name)]) }),
        }
    }
}
