//! Shared pieces of consentd's fuzz targets (see README.md).

pub mod adapter;
pub mod evidence;
pub mod json;
pub mod signals;
pub mod vendors;

/// A fresh temporary directory for a server target's database. libFuzzer
/// ends the process without running destructors, so the directory outlives
/// it: each one is named after its process, and the directories of
/// processes that are gone are removed here first.
pub fn state_dir(target: &str) -> tempfile::TempDir {
    let prefix = format!("consentd-fuzz-{target}-");
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(&prefix)) else { continue };
            let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else { continue };
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    tempfile::Builder::new().prefix(&format!("{prefix}{}-", std::process::id())).tempdir().expect("temp dir")
}
