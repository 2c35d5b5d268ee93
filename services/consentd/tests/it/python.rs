//! A Python with the PyPI packages a test drives (the chart checks, the
//! browser): the one `.ci/run` prepared and named in an environment
//! variable, or else a virtualenv of the test's own under the target
//! directory (pip fetches the pinned packages once).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python named in `variable`, or one in the virtualenv `name` with the
/// packages of `requirements` installed (checked by importing `module`).
pub(crate) fn with_packages(variable: &str, name: &str, requirements: &Path, module: &str) -> PathBuf {
    if let Ok(python) = std::env::var(variable) {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().expect("python3 runs");
        assert!(made.success(), "cannot make a virtualenv at {}", venv.display());
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(requirements)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "cannot install {}", requirements.display());
    }
    python
}
