//! consentd-jwt's behaviour seen from outside: keys made here, tokens signed
//! here, JWKS served from files and from a local HTTP server.

mod algorithms;
mod claims;
mod rotation;
mod shape;
mod startup;
mod support;
mod url;
