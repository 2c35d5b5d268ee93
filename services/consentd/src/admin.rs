//! The key and tenant commands: they open the store, apply migrations, act.

use std::sync::Arc;

use consent_core::{BindingStore as _, KeyStore as _, TenantId, Timestamp};
use consent_store::ServingStore;
use consentd::config::AdminArgs;
use consentd_auth::{Authenticator, KeyKind, Scope};

use super::{KeysCommand, TenantsCommand};

/// The store (migrated) and the key secret the arguments name.
pub(super) async fn open(admin: &AdminArgs) -> Result<(impl ServingStore + use<>, Option<String>), String> {
    let (options, key_secret) = admin.resolve().map_err(|err| err.to_string())?;
    let store = consent_store::open(&options).await.map_err(|err| err.to_string())?;
    store.migrate().await.map_err(|err| err.to_string())?;
    Ok((store, key_secret))
}

/// The store and an authenticator over it (keys are hashed with the
/// server secret `serve` uses).
async fn keyed(admin: &AdminArgs) -> Result<(impl ServingStore + use<>, Authenticator), String> {
    let (store, key_secret) = open(admin).await?;
    let authenticator = Authenticator::new(Arc::new(store.clone()), key_secret.as_deref())
        .await
        .map_err(|err| err.to_string())?;
    Ok((store, authenticator))
}

pub(super) async fn keys(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Create { tenant, scopes, publishable, vendor, external_id, origins, admin } => {
            let tenant = TenantId::new(validate_tenant(&tenant)?);
            let (store, authenticator) = keyed(&admin).await?;
            let key = match (publishable, vendor, external_id) {
                (true, Some(vendor), Some(external_id)) => {
                    bound_to(&store, &vendor, &external_id, &tenant).await?;
                    authenticator.create_publishable(&tenant, &vendor, &external_id, &origins).await
                }
                _ => authenticator.create(&tenant, &parse_scopes(&scopes)?).await,
            };
            println!("{}", key.map_err(|err| err.to_string())?.key);
            Ok(())
        }
        KeysCommand::Import { tenant, vendor, key, external_id, scopes, admin } => {
            let tenant = TenantId::new(validate_tenant(&tenant)?);
            // Write only unless asked: vendor keys often sit in web pages.
            let scopes = if scopes.is_empty() { vec![Scope::Write] } else { parse_scopes(&scopes)? };
            let (store, authenticator) = keyed(&admin).await?;
            if let Some(external_id) = &external_id {
                bound_to(&store, &vendor, external_id, &tenant).await?;
            }
            let id = authenticator
                .import(&tenant, &vendor, &key, external_id.as_deref(), &scopes)
                .await
                .map_err(|err| err.to_string())?;
            println!("{id}");
            Ok(())
        }
        KeysCommand::List { admin } => list(&admin).await,
        KeysCommand::Revoke { key_id, admin } => {
            let (store, _) = open(&admin).await?;
            if store.revoke_key(&key_id, Timestamp::now()).await.map_err(|err| err.to_string())? {
                eprintln!("revoked {key_id}");
                Ok(())
            } else {
                Err(format!("no key {key_id}"))
            }
        }
    }
}

/// Every key: id, kind, tenant, scopes, the account it is bound to, state.
async fn list(admin: &AdminArgs) -> Result<(), String> {
    let (store, _) = open(admin).await?;
    println!("{:<20} {:<12} {:<20} {:<50} {:<40} STATE", "ID", "KIND", "TENANT", "SCOPES", "ACCOUNT");
    for key in store.keys().await.map_err(|err| err.to_string())? {
        let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
        let kind = match KeyKind::of(&key.id) {
            KeyKind::Ordinary => "key",
            KeyKind::Publishable => "publishable",
            KeyKind::Imported => "imported",
        };
        let account = key.account.as_ref().map_or_else(String::new, |account| {
            let id = account.external_id.as_deref().unwrap_or("*");
            format!("{} {id}", account.vendor)
        });
        println!(
            "{:<20} {kind:<12} {:<20} {:<50} {account:<40} {state}",
            key.id,
            key.tenant.as_str(),
            key.scopes.join(",")
        );
    }
    Ok(())
}

pub(super) async fn tenants(command: TenantsCommand) -> Result<(), String> {
    let TenantsCommand::Bind { tenant, vendor, external_id, origins, admin } = command;
    let tenant = TenantId::new(validate_tenant(&tenant)?);
    if external_id.is_empty() {
        return Err("--external-id must not be empty".to_owned());
    }
    let origins = origins
        .iter()
        .map(|origin| consentd_auth::origin::normalize(origin))
        .collect::<Result<Vec<_>, _>>()?;
    let (store, _) = open(&admin).await?;
    store.bind_tenant(&vendor, &external_id, &tenant).await.map_err(|err| err.to_string())?;
    store.allow_origins(&vendor, &external_id, &origins).await.map_err(|err| err.to_string())?;
    eprintln!("bound {vendor} {external_id} to tenant {}", tenant.as_str());
    for origin in &origins {
        eprintln!("allowed origin {origin} on {vendor} {external_id}");
    }
    Ok(())
}

/// Refuses a key for an account that is not bound to its tenant: it could
/// never be used (the gateway checks every call's account).
async fn bound_to(
    store: &impl ServingStore,
    vendor: &str,
    external_id: &str,
    tenant: &TenantId,
) -> Result<(), String> {
    match store.bound_tenant(vendor, external_id).await.map_err(|err| err.to_string())? {
        Some(owner) if owner == *tenant => Ok(()),
        Some(_) => Err(format!("{vendor} account {external_id} is bound to another tenant")),
        None => Err(format!(
            "{vendor} account {external_id} is bound to no tenant: run `consentd tenants bind` first"
        )),
    }
}

/// Scope names, or the default scopes when none are named.
fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, String> {
    if names.is_empty() {
        return Ok(Scope::DEFAULT.to_vec());
    }
    names.iter().map(|name| Scope::parse(name).ok_or_else(|| format!("unknown scope {name}"))).collect()
}

/// Tenant slugs: lower-case letters, digits and '-', 1 to 64 characters.
pub(super) fn validate_tenant(slug: &str) -> Result<&str, String> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(slug)
    } else {
        Err(format!("tenant {slug:?} must be 1 to 64 lower-case letters, digits or '-'"))
    }
}

/// `consentd evidence export`: the tenant's log and checkpoints into `out`.
pub(super) async fn export_log(tenant: &str, out: &std::path::Path, admin: &AdminArgs) -> Result<(), String> {
    use consent_evidence::LogStore as _;
    let tenant = TenantId::new(validate_tenant(tenant)?);
    let (store, _) = open(admin).await?;
    consent_evidence::log::catch_up(&store, &tenant).await.map_err(|err| err.to_string())?;
    let leaves = store.export_log(&tenant).await.map_err(|err| err.to_string())?;
    std::fs::create_dir_all(out).map_err(|err| format!("{}: {err}", out.display()))?;
    let mut log = String::new();
    for leaf in &leaves {
        log.push_str(&serde_json::to_string(leaf).map_err(|err| err.to_string())?);
        log.push('\n');
    }
    let write = |name: String, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))
    };
    write("log.jsonl".to_owned(), &log)?;
    let checkpoints = store.checkpoints(&tenant).await.map_err(|err| err.to_string())?;
    for (size, note) in &checkpoints {
        write(format!("checkpoint-{size}.txt"), note)?;
    }
    eprintln!(
        "exported {} records and {} checkpoints of tenant {}",
        leaves.len(),
        checkpoints.len(),
        tenant.as_str()
    );
    Ok(())
}
