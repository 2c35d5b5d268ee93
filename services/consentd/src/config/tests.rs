//! The configuration's layering, validation and printing.

use super::urls::REDACTED;
use super::*;

#[test]
fn passwords_are_redacted() {
    let redacted = |url: &str| redact_url(url).replace("%3Credacted%3E", "<redacted>");
    assert_eq!(
        redacted("postgres://app:s3cret@db:5432/consent"),
        "postgres://app:<redacted>@db:5432/consent"
    );
    assert_eq!(redact_url("postgres://app@db/consent"), "postgres://app@db/consent");
    assert_eq!(redact_url(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
    // An unencoded '@' in the password: the user info ends at the last one.
    assert_eq!(redacted("postgres://app:p@ss@db/consent"), "postgres://app:<redacted>@db/consent");
    // Passwords in the query, where the drivers also read them.
    let query = redacted("postgres://db/consent?user=app&password=s3cret&sslpassword=k3y&sslmode=disable");
    assert_eq!(
        query,
        "postgres://db/consent?user=app&password=<redacted>&sslpassword=<redacted>&sslmode=disable"
    );
    assert!(!redact_url("not a url with s3cret@").contains("s3cret"));
}

#[test]
fn placeholders_pasted_back_from_config_print_are_refused() {
    for url in [redact_url("postgres://app:s3cret@db/consent"), redact_url("postgres://db/c?password=s3cret")]
    {
        let err = validate_database_url(&url).unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
    }
    assert!(validate_key_secret(Some(REDACTED)).is_err());
    assert!(validate_key_secret(Some("a real secret")).is_ok());
}

#[test]
fn flags_override_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    std::fs::write(&path, "grpc_listen = \"127.0.0.1:6000\"\nhttp_listen = \"127.0.0.1:6001\"\n").unwrap();
    let args = ServeArgs {
        config: Some(path),
        http_listen: Some("127.0.0.1:7001".parse().unwrap()),
        ..ServeArgs::default()
    };
    let config = Config::load(&args).unwrap();
    assert_eq!(config.grpc_listen, "127.0.0.1:6000".parse().unwrap());
    assert_eq!(config.http_listen, "127.0.0.1:7001".parse().unwrap());
    assert_eq!(config.store.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(config.auth, AuthMode::Required);
}

#[test]
fn read_standbys_come_from_flags_or_the_file_and_print_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    std::fs::write(
        &path,
        "database_url = \"postgres://app@db/consent\"\nread_database_urls = [\"postgres://app:pw@standby-0/consent\"]\n\
         [store]\nstandby_max_lag_ms = 2500\n",
    )
    .unwrap();
    let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
    let config = Config::load(&args).unwrap();
    assert_eq!(config.store.read_database_urls, ["postgres://app:pw@standby-0/consent"]);
    assert_eq!(config.store.standby_max_lag, Duration::from_millis(2500));
    let printed = config.to_toml();
    assert!(printed.contains("standby-0") && !printed.contains(":pw@"), "{printed}");

    let args = ServeArgs {
        config: Some(path),
        read_databases: ReadDatabaseArgs {
            read_database_urls: vec![
                "postgres://app@standby-1/consent".into(),
                "postgres://app@standby-2/consent".into(),
            ],
        },
        ..ServeArgs::default()
    };
    let config = Config::load(&args).unwrap();
    assert_eq!(config.store.read_database_urls.len(), 2, "flags replace the file's list");
}

#[test]
fn unknown_file_keys_and_bad_urls_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    std::fs::write(&path, "grpc_lisen = \"127.0.0.1:6000\"\n").unwrap();
    let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
    assert!(matches!(Config::load(&args), Err(ConfigError::Parse { .. })));
    let args = ServeArgs {
        database: DatabaseArgs { database_url: Some("mysql://x".into()) },
        ..ServeArgs::default()
    };
    assert!(matches!(Config::load(&args), Err(ConfigError::Invalid { .. })));

    for bad in [
        "[store]\nmax_batch = 0\n",
        "[store]\nmax_batch = 1000000\n",
        "[store]\nacquire_timeout_ms = 0\n",
        "[subscribe]\nbuffer = 0\n",
        "[store]\nstatement_timeout_ms = 0\n",
        // Standbys of a SQLite file, or not PostgreSQL.
        "read_database_urls = [\"postgres://standby/consent\"]\n",
        "database_url = \"postgres://db/consent\"\nread_database_urls = [\"sqlite://x.db\"]\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        assert!(matches!(Config::load(&args), Err(ConfigError::Invalid { .. })), "{bad}");
    }
}

#[test]
fn signal_settings_come_from_the_file_per_tenant_and_print_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    let text = "[signals]\ntcf_vendors = [755]\n[signals.tcf_purposes]\n1 = \"storage\"\n\
                [signals.gpc]\nenabled = true\n[signals.consent_mode]\nad_storage = \"marketing\"\n\
                [signals.tenants.acme.gpc]\nenabled = true\nprefer = \"gpc\"\n";
    std::fs::write(&path, text).unwrap();
    let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
    let config = Config::load(&args).unwrap();
    let default = config.signals.of(&consent_core::TenantId::new("globex"));
    assert_eq!(default.tcf_vendors, [755]);
    assert_eq!(default.tcf_purpose(1), "storage");
    assert!(default.gpc.enabled);
    assert_eq!(default.consent_mode.ad_storage.as_deref(), Some("marketing"));
    let acme = config.signals.of(&consent_core::TenantId::new("acme"));
    assert_eq!(acme.gpc.prefer, consent_signals::GpcPrecedence::Gpc);
    assert!(acme.tcf_vendors.is_empty(), "a tenant's table is whole: built-in defaults, not [signals]'s");

    // What `config print` shows loads back to the same settings.
    std::fs::write(&path, config.to_toml()).unwrap();
    let reloaded = Config::load(&ServeArgs { config: Some(path.clone()), ..ServeArgs::default() }).unwrap();
    assert_eq!(reloaded.signals, config.signals);

    for bad in [
        "[signals]\ntcf_vendor = [1]\n",
        "[signals.gpc]\nprefer = \"loudest\"\n",
        "[signals.tenants.acme]\nunknown = 1\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        assert!(matches!(Config::load(&args), Err(ConfigError::Parse { .. })), "{bad}");
    }
    std::fs::write(&path, "[signals.tcf_purposes]\n12 = \"x\"\n").unwrap();
    let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
    let error = Config::load(&args).unwrap_err().to_string();
    assert!(error.contains("signals") && error.contains("tcf_purposes"), "{error}");
}

#[test]
fn evidence_settings_that_cannot_work_are_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    for (bad, setting) in [
        ("[evidence]\nappend_interval_ms = 0\n", "evidence"),
        ("[evidence]\nprevious_public_keys = [\"not a key\"]\n", "evidence.previous_public_keys"),
        ("[evidence.retention]\ninterval_ms = 0\n", "evidence.retention.interval_ms"),
        ("[evidence.retention]\ntenants = { acme = 999999999 }\n", "evidence.retention.days"),
        ("[evidence]\nmaster_key_file = \"/nonexistent/master.key\"\n", "evidence.master_key_file"),
    ] {
        std::fs::write(&path, bad).unwrap();
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let error = Config::load(&args).unwrap_err().to_string();
        assert!(error.contains(setting), "{bad}: {error}");
    }
    std::fs::write(&path, "[evidence]\nkey_fil = \"x\"\n").unwrap();
    let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
    assert!(matches!(Config::load(&args), Err(ConfigError::Parse { .. })));
}

#[test]
fn the_master_key_and_retention_come_from_the_file_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (in_file, on_flag) = (dir.path().join("file.key"), dir.path().join("flag.key"));
    std::fs::write(&in_file, format!("{}\n", "11".repeat(32))).unwrap();
    std::fs::write(&on_flag, "22".repeat(32)).unwrap();
    let path = dir.path().join("consentd.toml");
    let toml = format!(
        "[evidence]\nmaster_key_file = {:?}\n[evidence.retention]\ndays = 30\ntenants = {{ acme = 0, globex = 7 }}\n",
        in_file.display().to_string()
    );
    std::fs::write(&path, toml).unwrap();
    let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
    let config = Config::load(&args).unwrap();
    let from_file = config.store.master_key.clone().expect("the file's key");
    assert_eq!(from_file.to_hex(), "11".repeat(32));
    let policy = config.evidence.retention.policy();
    assert_eq!(
        (policy.days_for("other"), policy.days_for("acme"), policy.days_for("globex")),
        (Some(30), None, Some(7))
    );
    let mut args = ServeArgs { config: Some(path), ..ServeArgs::default() };
    args.key_secret.master_key_file = Some(on_flag);
    assert_eq!(Config::load(&args).unwrap().store.master_key.unwrap().to_hex(), "22".repeat(32));
    // The key itself is never printed; its file is.
    let printed = config.to_toml();
    assert!(printed.contains("master_key_file") && !printed.contains(&"11".repeat(32)), "{printed}");
}

#[test]
fn the_log_off_turns_off_leaf_hashes_on_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentd.toml");
    let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
    std::fs::write(&path, "").unwrap();
    assert!(Config::load(&args).unwrap().store.leaf_hashes, "on by default");
    std::fs::write(&path, "[evidence]\nlog = false\n").unwrap();
    let config = Config::load(&args).unwrap();
    assert!(!config.evidence.log && !config.store.leaf_hashes);
}
