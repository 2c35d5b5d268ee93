//! The locator as the gateway uses it: settings in, a location per request
//! out, with databases written for the purpose by `consentd_geo::testing`
//! (the real `maxminddb` reader checks that writer in `writer`).

mod database;
mod headers;
mod precedence;
mod setup;
mod support;
mod writer;
