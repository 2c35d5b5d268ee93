//! The scope check of a gRPC handler, on the principal the request
//! pipeline established.

use consentd_auth::{Principal, Scope};
use tonic::{Request, Status};

/// The caller of `request`, if it holds `scope`. A request that reached a
/// handler without a principal is refused: authentication fails closed. So
/// is a publishable key: it sits in web pages, and may only record on its
/// vendor's routes, for its account, from its origins; and so is a vendor
/// key imported for one account.
pub(crate) fn authorize<T>(request: &Request<T>, scope: Scope) -> Result<Principal, Status> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no credentials were established for this call"))?;
    if principal.publishable {
        return Err(Status::permission_denied(
            "a publishable key is for its vendor's HTTP routes only; use an API key or a JWT",
        ));
    }
    // A key bound to one vendor account acts only for that account; no gRPC
    // call names one, so it would act for the whole tenant.
    if principal.account.as_ref().is_some_and(|account| account.external_id.is_some()) {
        return Err(Status::permission_denied(
            "this key is bound to one vendor account and is for that vendor's HTTP routes only",
        ));
    }
    if principal.allows(scope) {
        Ok(principal)
    } else {
        Err(Status::permission_denied(format!("this key lacks the {} scope", scope.as_str())))
    }
}
