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
}
