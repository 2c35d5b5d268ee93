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
