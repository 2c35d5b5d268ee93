//! The Helm chart: Helm's own lint, a render for the default values and each
//! `helm/consentd/ci/*.yaml`, every manifest validated against the
//! Kubernetes schemas, the pod security policies, and values that break the
//! schema rejected — all by `helm/ci/check_chart.py`, run in a virtualenv
//! with the PyPI packages `helm-python-sdk` (Helm's Go library) and
//! `kubernetes-validate` (`helm/ci/requirements.txt`).
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
        "helm_python, kubernetes_validate",
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
