//! The legal-hold and retention commands (docs/evidence.md#legal-holds,
//! docs/evidence.md#retention): they open the store, apply migrations, act.

use consent_core::{Identity, SubjectRef, TenantId, Timestamp};
use consent_store::ServingStore as _;
use consentd::config::AdminArgs;

use super::admin::{open, validate_tenant};

/// Which subject a command is about: its id or one of its identities.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["subject_id", "identity"])))]
pub(super) struct SubjectArgs {
    /// The subject's id
    #[arg(long)]
    subject_id: Option<uuid::Uuid>,
    /// One of the subject's identities, as NAMESPACE:VALUE (`email:a@example.com`)
    #[arg(long)]
    identity: Option<String>,
}

impl SubjectArgs {
    fn subject(&self) -> Result<SubjectRef, String> {
        if let Some(id) = self.subject_id {
            return Ok(SubjectRef::Id(id));
        }
        let text = self.identity.as_deref().unwrap_or_default();
        let (namespace, value) = text
            .split_once(':')
            .filter(|(namespace, value)| !namespace.is_empty() && !value.is_empty())
            .ok_or_else(|| format!("--identity {text:?} must be NAMESPACE:VALUE"))?;
        Ok(SubjectRef::Identity(Identity::new(namespace.to_ascii_lowercase(), value)))
    }
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum HoldsCommand {
    /// Put a subject on legal hold: neither erasure nor retention removes
    /// anything of it until the hold is released
    Place {
        /// The tenant
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        subject: SubjectArgs,
        /// Why (a case reference), kept with the hold
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Release a subject's legal hold
    Release {
        /// The tenant
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List a tenant's legal holds: subject id, when placed, reason; one a line
    List {
        /// The tenant
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum RetentionCommand {
    /// Remove now the identifying values of the tenant's records that
    /// stopped being current more than DAYS days ago (what the retention
    /// sweeper does with `[evidence.retention]`); their log leaves stay
    Apply {
        /// The tenant
        #[arg(long)]
        tenant: String,
        /// Days to keep values after a record stops being current (0: remove
        /// them from every record that is not current; at most 36500)
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(consent_store::MAX_RETENTION_DAYS)))]
        days: u32,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub(super) async fn holds(command: HoldsCommand) -> Result<(), String> {
    match command {
        HoldsCommand::Place { tenant, subject, reason, admin } => {
            let tenant = TenantId::new(validate_tenant(&tenant)?);
            let (store, _) = open(&admin).await?;
            let id = store
                .place_legal_hold(&tenant, &subject.subject()?, &reason)
                .await
                .map_err(|err| err.to_string())?;
            println!("{id}");
        }
        HoldsCommand::Release { tenant, subject, admin } => {
            let tenant = TenantId::new(validate_tenant(&tenant)?);
            let (store, _) = open(&admin).await?;
            if !store.release_legal_hold(&tenant, &subject.subject()?).await.map_err(|err| err.to_string())? {
                return Err("the subject is not on legal hold".to_owned());
            }
        }
        HoldsCommand::List { tenant, admin } => {
            let tenant = TenantId::new(validate_tenant(&tenant)?);
            let (store, _) = open(&admin).await?;
            for hold in store.legal_holds(&tenant).await.map_err(|err| err.to_string())? {
                println!("{}\t{}\t{}", hold.subject_id, hold.placed_at.to_rfc3339(), hold.reason);
            }
        }
    }
    Ok(())
}

pub(super) async fn retention(command: RetentionCommand) -> Result<(), String> {
    let RetentionCommand::Apply { tenant, days, admin } = command;
    let tenant = TenantId::new(validate_tenant(&tenant)?);
    let (store, _) = open(&admin).await?;
    let cutoff = consent_store::retention_cutoff(Timestamp::now(), days);
    let due = store.retention_due(&tenant, cutoff).await.map_err(|err| err.to_string())?;
    let mut left = due;
    while left > 0 {
        store.apply_retention(&tenant, cutoff).await.map_err(|err| err.to_string())?;
        let now_left = store.retention_due(&tenant, cutoff).await.map_err(|err| err.to_string())?;
        if now_left >= left {
            // Records the log has not reached yet wait for it.
            break;
        }
        left = now_left;
    }
    eprintln!("removed the identifying values of {} records of tenant {}", due - left, tenant.as_str());
    Ok(())
}
