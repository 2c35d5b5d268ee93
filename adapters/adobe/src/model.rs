//! The wire types: Adobe's request and response bodies as its documentation
//! names them, as serde types, and nothing else (decoding and mapping live in
//! `decode.rs`, responses in `encode.rs`).
//!
//! Here: the `/consent` request body and the gateway's error body. Unknown
//! fields are accepted and ignored, as Adobe's schema does not forbid them.

use serde::{Deserialize, Serialize};

/// The body of `POST /data/core/privacy/consent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// `true`: the people under `entities` opt out of the sale or sharing of
    /// their personal data.
    pub opt_out_of_sale: bool,
    /// The people the request applies to.
    pub entities: Vec<Entity>,
}

/// One namespace and the people identified in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// An identity namespace such as `email` or `ECID`. Adobe's prose spells
    /// it `namespace`, its example `nameSpace`; both are read.
    #[serde(rename = "nameSpace", alias = "namespace")]
    pub name_space: String,
    /// One identifier per person.
    pub values: Vec<String>,
}

/// Adobe's gateway error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code; consentd sends the HTTP status as a string.
    pub error_code: String,
    /// What went wrong.
    pub message: String,
}
