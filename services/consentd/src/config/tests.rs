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
