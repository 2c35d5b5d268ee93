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
