//! The Python example client (`examples/python/`) against a real consentd:
//! its `test_example.py` generates the stubs from `proto/` with
//! grpcio-tools, authenticates with the key `serve` printed, and runs every
//! example (record, check with `min_revision`, update with
//! `expected_revision`, get, paging, a Subscribe that resumes after its
//! connection is cut, a bad request's field violations).
//!
//! `.ci/run` prepares the virtualenv with the pinned packages
//! (`examples/python/requirements.txt`) and names its Python in
//! `CONSENTD_EXAMPLES_PYTHON`; without it the test makes its own under the
//! target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::ConsentdProcess;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python")
}

#[tokio::test]
async fn the_python_example_client_passes_its_tests_against_consentd() {
    let python = crate::python::with_packages(
        "CONSENTD_EXAMPLES_PYTHON",
        "examples-venv",
        &examples().join("requirements.txt"),
        "grpc, grpc_tools, grpc_status",
    );
    let dir = tempfile::tempdir().unwrap();
    let process = ConsentdProcess::spawn(dir.path(), &[]);
    let key = process.bootstrap_key.clone().expect("serve printed a key for tenant default");
    let addr = process.grpc_addr.clone();

    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "unittest", "-v", "test_example"])
            .current_dir(examples())
            .env("CONSENTD_ADDR", addr)
            .env("CONSENTD_KEY", key)
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("the example's tests run")
    })
    .await
    .unwrap();
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the Python example failed:\n{report}\nconsentd's log:\n{}",
        process.log().join("\n")
    );
    // unittest closes with "Ran N tests" and "OK": none skipped silently.
    assert!(report.contains("\nOK") && !report.contains("skipped"), "{report}");
    process.stop().await;
}
