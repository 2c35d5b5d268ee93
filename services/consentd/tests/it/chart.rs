//! The Helm chart: Helm's own lint, a render for the default values and each
//! `helm/consentd/ci/*.yaml`, every manifest validated against the
//! Kubernetes schemas, the pod security policies, the dashboard and alerts
//! (every PromQL expression parsed), and values that break the schema
//! rejected — all by `helm/ci/check_chart.py`, run in a virtualenv with the
//! PyPI packages `helm-python-sdk` (Helm's Go library), `kubernetes-validate`
//! and `promql-parser` (`helm/ci/requirements.txt`). Then every series the
//! dashboard and alerts read is shown to be one a real consentd exports.
//!
//! `.ci/run` prepares that virtualenv and names its Python in
//! `CONSENTD_CHART_PYTHON`; without it the test makes its own under the
//! target directory (pip fetches the pinned packages once).

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python with the chart-check packages.
fn chart_python() -> PathBuf {
    let requirements = workspace().join("helm/ci/requirements.txt");
    crate::python::with_packages(
        "CONSENTD_CHART_PYTHON",
        "chart-venv",
        &requirements,
        "helm_python, kubernetes_validate, promql_parser",
    )
}

#[test]
fn the_helm_chart_lints_renders_and_validates() {
    let output = Command::new(chart_python())
        .arg("helm/ci/check_chart.py")
        .current_dir(workspace())
        .output()
        .expect("the chart check runs");
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the chart check failed:\n{report}");
    assert!(
        report.contains("ci/postgres-values.yaml") && report.contains("ci/sqlite-values.yaml"),
        "{report}"
    );
}

/// Series of other exporters that the alerts read (kube-state-metrics'
/// pod readiness); every other series the chart names must be consentd's.
const NOT_CONSENTDS: [&str; 1] = ["kube_pod_status_ready"];

/// Every series the chart's dashboard and alerts name (`check_chart.py
/// --metric-names` lists them from each parsed PromQL expression) is one a
/// real consentd exports once the events it measures happened: a renamed
/// metric, or a typo in a query, fails here rather than as an empty panel or
/// an alert that never fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_the_dashboard_and_alerts_read_is_exported() {
    let output = tokio::task::spawn_blocking(|| {
        Command::new(chart_python())
            .args(["helm/ci/check_chart.py", "--metric-names"])
            .current_dir(workspace())
            .output()
            .expect("the chart check runs")
    })
    .await
    .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{listed}{}", String::from_utf8_lossy(&output.stderr));
    let named: Vec<&str> = listed.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    assert!(named.contains(&"rpc_server_call_duration_seconds_bucket"), "not the chart's series: {named:?}");
    for external in NOT_CONSENTDS {
        assert!(
            named.contains(&external),
            "the alerts no longer read {external}: drop it from NOT_CONSENTDS"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (process, metrics) = crate::telemetry::observed_everything(dir.path()).await;
    let missing: Vec<&str> = named
        .iter()
        .copied()
        .filter(|name| !NOT_CONSENTDS.contains(name) && crate::telemetry::sample(&metrics, name).is_none())
        .collect();
    assert!(missing.is_empty(), "the chart reads series consentd does not export: {missing:?}\n{metrics}");
    process.stop().await;
}

/// Every key `consentd config print` shows in the tables the chart's
/// `config` value writes is in the chart's values schema, so no setting is
/// out of a platform team's reach (the schema refuses unknown keys).
#[test]
fn the_values_schema_knows_every_configuration_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_consentd")).args(["config", "print"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&output.stdout)).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("helm/consentd/values.schema.json")).unwrap(),
    )
    .unwrap();
    let config = &schema["properties"]["config"];
    let mut missing = Vec::new();
    for table in ["store", "limits", "subscribe", "gateway", "webhooks", "signals", "evidence"] {
        let Some(toml::Value::Table(keys)) = printed.get(table) else {
            panic!("config print has no [{table}]")
        };
        known(&config["properties"][table], table, keys, &mut missing);
    }
    assert!(missing.is_empty(), "keys the values schema does not know: {missing:?}");
}

fn known(schema: &serde_json::Value, path: &str, keys: &toml::Table, missing: &mut Vec<String>) {
    for (key, value) in keys {
        let at = format!("{path}.{key}");
        match schema["properties"].get(key) {
            None => missing.push(at),
            // A table of fixed keys: each of its keys too (free-form maps,
            // such as the mounts, take any key).
            Some(inner) if inner["properties"].is_object() => {
                if let toml::Value::Table(table) = value {
                    known(inner, &at, table, missing);
                }
            }
            Some(_) => {}
        }
    }
}
