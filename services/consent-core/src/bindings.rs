//! What the vendor gateway needs from storage besides consents: which
//! tenant a vendor's account is bound to (`consentd tenants bind`), and the
//! browser origins allowed on it. A binding never changes once made;
//! origins are only ever added.

use std::future::Future;

use crate::error::ConsentError;
use crate::model::TenantId;

/// Storage of vendor-account bindings.
pub trait BindingStore: Send + Sync + 'static {
    /// The tenant `vendor`'s account `external_id` is bound to, if any.
    fn bound_tenant(
        &self,
        vendor: &str,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<TenantId>, ConsentError>> + Send;

    /// Declares that `vendor`'s account `external_id` belongs to `tenant`.
    /// Binding an account already bound to another tenant is refused
    /// (`FAILED_PRECONDITION`, `ALREADY_BOUND`); binding it again to the
    /// same tenant does nothing.
    fn bind_tenant(
        &self,
        vendor: &str,
        external_id: &str,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// Allows the browser `origins` on `vendor`'s account `external_id`,
    /// beside those it already has.
    fn allow_origins(
        &self,
        vendor: &str,
        external_id: &str,
        origins: &[String],
    ) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// Every (account id, origin) allowed on `vendor`'s accounts.
    fn allowed_origins(
        &self,
        vendor: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ConsentError>> + Send;
}
