//! Configuration precedence through the real binary: a flag beats the
//! environment, which beats the file, which beats the default; `consentd
//! config print` shows the effective result with secrets redacted.

use std::process::Command;

fn print(dir: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
    command.args(["config", "print", "--config", "consentd.toml"]).args(flags).current_dir(dir);
    for name in
        ["CONSENTD_GRPC_LISTEN", "CONSENTD_HTTP_LISTEN", "CONSENTD_DATABASE_URL", "CONSENTD_KEY_SECRET"]
    {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn value<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} not printed in\n{printed}"))
}

#[test]
fn flags_beat_environment_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("consentd.toml"),
        "grpc_listen = \"127.0.0.1:6001\"\nhttp_listen = \"127.0.0.1:6002\"\n\
         database_url = \"postgres://app:file-password@db/consent\"\nkey_secret = \"file-secret\"\n\
         [store]\nmax_connections = 7\n",
    )
    .unwrap();

    let file_only = print(dir.path(), &[], &[]);
    assert_eq!(value(&file_only, "grpc_listen"), "\"127.0.0.1:6001\"");
    assert_eq!(value(&file_only, "max_connections"), "7");
    assert_eq!(value(&file_only, "shutdown_grace_ms"), "20000", "a default");

    let env = [("CONSENTD_GRPC_LISTEN", "127.0.0.1:7001"), ("CONSENTD_HTTP_LISTEN", "127.0.0.1:7002")];
    let with_env = print(dir.path(), &env, &[]);
    assert_eq!(value(&with_env, "grpc_listen"), "\"127.0.0.1:7001\"", "env beats the file");
    assert_eq!(value(&with_env, "http_listen"), "\"127.0.0.1:7002\"");

    let with_flag = print(dir.path(), &env, &["--grpc-listen", "127.0.0.1:8001"]);
    assert_eq!(value(&with_flag, "grpc_listen"), "\"127.0.0.1:8001\"", "a flag beats env");
    assert_eq!(value(&with_flag, "http_listen"), "\"127.0.0.1:7002\"", "env still beats the file");

    // Secrets never appear.
    assert_eq!(value(&with_flag, "database_url"), "\"postgres://app:%3Credacted%3E@db/consent\"");
    assert_eq!(value(&with_flag, "key_secret"), "\"<redacted>\"");
    assert!(!with_flag.contains("file-password") && !with_flag.contains("file-secret"));
    // Passwords in the URL's query are hidden too.
    let query_password = print(
        dir.path(),
        &[("CONSENTD_DATABASE_URL", "postgres://db/consent?user=app&password=query-password")],
        &[],
    );
    assert!(!query_password.contains("query-password"), "{query_password}");

    // What it prints reads back as a configuration file — except that the
    // placeholders are refused rather than taken for the secrets.
    let reread = |text: &str| {
        std::fs::write(dir.path().join("printed.toml"), text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_consentd"))
            .args(["config", "print", "--config", "printed.toml"])
            .current_dir(dir.path())
            .env_remove("CONSENTD_GRPC_LISTEN")
            .output()
            .unwrap()
    };
    let as_printed = reread(&with_flag);
    assert_eq!(as_printed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&as_printed.stderr).contains("database_url"));
    let without_secrets: String = with_flag
        .lines()
        .filter(|line| !line.starts_with("database_url") && !line.starts_with("key_secret"))
        .map(|line| format!("{line}\n"))
        .collect();
    let reread = reread(&without_secrets);
    assert!(reread.status.success(), "{}", String::from_utf8_lossy(&reread.stderr));
    assert_eq!(value(&String::from_utf8(reread.stdout).unwrap(), "grpc_listen"), "\"127.0.0.1:8001\"");
}

#[test]
fn invalid_settings_are_refused_at_start_naming_the_setting() {
    for (file, setting) in [
        ("[webhooks]\nlease_ms = 10\n", "webhooks.lease_ms"),
        // A bound the heartbeat cannot keep would make the cache flap.
        (
            "[store]\nnotice_heartbeat_ms = 1000\nnotice_max_staleness_ms = 1500\n",
            "store.notice_max_staleness_ms",
        ),
        ("[limits]\nmax_error_resets = 0\n", "limits.max_error_resets"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("consentd.toml"), file).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
            .args(["serve", "--config", "consentd.toml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{file}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(setting), "{output:?}");
    }
}

/// Every key of every table has a variable, `CONSENTD_<TABLE>__<KEY>`
/// (tables nest with `__`), over the file and under the flags.
#[test]
fn every_table_takes_its_keys_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("consentd.toml"), "[limits]\nrate_per_key = 100\nburst_per_key = 300\n")
        .unwrap();
    let env = [
        ("CONSENTD_STORE__MAX_CONNECTIONS", "7"),
        ("CONSENTD_LIMITS__RATE_PER_KEY", "500"),
        ("CONSENTD_SUBSCRIBE__MAX_STREAMS", "33"),
        ("CONSENTD_GATEWAY__CORS_ORIGINS", "[\"https://shop.example\"]"),
        ("CONSENTD_WEBHOOKS__MAX_ATTEMPTS", "4"),
        ("CONSENTD_EVIDENCE__CHECKPOINT_INTERVAL_MS", "12345"),
        ("CONSENTD_EVIDENCE__RETENTION__DAYS", "30"),
        ("CONSENTD_AUTH__MODE", "disabled"),
        ("CONSENTD_SIGNALS__TCF_VENDORS", "[755, 42]"),
        ("CONSENTD_TLS__CERT_FILE", "/etc/consentd/tls.crt"),
        ("CONSENTD_TLS__KEY_FILE", "/etc/consentd/tls.key"),
    ];
    let printed = print(dir.path(), &env, &[]);
    for (key, expected) in [
        ("max_connections", "7"),
        ("rate_per_key", "500"),
        // The file's other key in the same table stays.
        ("burst_per_key", "300"),
        ("max_streams", "33"),
        ("cors_origins", "[\"https://shop.example\"]"),
        ("max_attempts", "4"),
        ("checkpoint_interval_ms", "12345"),
        ("days", "30"),
        ("mode", "\"disabled\""),
        ("tcf_vendors", "[755, 42]"),
        ("cert_file", "\"/etc/consentd/tls.crt\""),
    ] {
        assert_eq!(value(&printed, key), expected, "{key} in\n{printed}");
    }
    // The flag's own variable and the flag still win over `[auth] mode`.
    let printed =
        print(dir.path(), &[("CONSENTD_AUTH__MODE", "disabled"), ("CONSENTD_AUTH", "required")], &[]);
    assert_eq!(value(&printed, "mode"), "\"required\"");
}

#[test]
fn a_variable_that_does_not_fit_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("consentd.toml"), "").unwrap();
    for (variable, value, named) in [
        ("CONSENTD_LIMITS__RATE_PER_KEY", "lots", "CONSENTD_LIMITS__RATE_PER_KEY"),
        ("CONSENTD_LIMITS__RATE_PER_KY", "5", "rate_per_ky"),
        ("CONSENTD_LIMITS__MAX_ERROR_RESETS", "0", "limits.max_error_resets"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
            .args(["config", "print", "--config", "consentd.toml"])
            .env(variable, value)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(named), "{variable}: {stderr}");
    }
}
