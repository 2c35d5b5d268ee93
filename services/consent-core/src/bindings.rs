//! What the vendor gateway needs from storage besides consents: which
//! tenant a vendor's account is bound to (`consentd tenants bind`). A
//! binding never changes once made.

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
}
