//! Vendor account bindings: found once, remembered (a binding never
//! changes); not found, asked again (a new binding works at once).

use consent_core::TenantId;
use sea_orm::{ConnectionTrait, Database};

use crate::support::TestStore;

on_every_backend!(a_binding_found_is_remembered_and_a_missing_one_is_asked_again);

async fn a_binding_found_is_remembered_and_a_missing_one_is_asked_again(store: TestStore) {
    let s = store.service.store();
    let acme = TenantId::new("acme");
    s.bind_tenant("intempt", "org/project", &acme).await.unwrap();
    assert_eq!(s.bound_tenant("intempt", "org/project").await.unwrap(), Some(acme.clone()));

    // Gone from the table (nothing in consentd deletes one): still known.
    let db = Database::connect(store.database.url.as_str()).await.unwrap();
    db.execute_unprepared("DELETE FROM tenant_bindings").await.unwrap();
    assert_eq!(s.bound_tenant("intempt", "org/project").await.unwrap(), Some(acme.clone()));

    // Not bound, then bound through another replica: seen at once.
    assert_eq!(s.bound_tenant("jentis", "site/live").await.unwrap(), None);
    let replica = store.replica().await;
    replica.store().bind_tenant("jentis", "site/live", &acme).await.unwrap();
    assert_eq!(s.bound_tenant("jentis", "site/live").await.unwrap(), Some(acme));
}
