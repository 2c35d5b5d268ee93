//! Where each vendor's routes are served. An adapter's route paths begin
//! with the vendor's base path (`/jentis` for JENTIS, nothing for the
//! others); `[gateway.mounts]` puts another in its place, so a client whose
//! base URL is a host name of its own (JENTIS posts to `/`) needs only that
//! host name changed.

use std::collections::BTreeMap;

use consent_adapter::{Method, VendorAdapter};

/// The path `path` of `adapter`'s route is served at under `mount` (the
/// vendor's own base path when none is configured).
pub fn mounted_path(adapter: &dyn VendorAdapter, path: &'static str, mount: Option<&str>) -> String {
    let Some(mount) = mount else { return path.to_owned() };
    let relative = path.strip_prefix(adapter.base_path()).unwrap_or(path);
    let joined = format!("{}{relative}", mount.trim_end_matches('/'));
    if joined.is_empty() { "/".to_owned() } else { joined }
}

/// Checks `[gateway.mounts]` for the `enabled` adapters of `registry`:
/// each names a known vendor and is an absolute path without parameters,
/// and no two vendors' routes land on one path (its CORS answer belongs to
/// one vendor), nor two routes on one method and path.
pub fn check_mounts(
    registry: &[std::sync::Arc<dyn VendorAdapter>],
    enabled: &[String],
    mounts: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (vendor, mount) in mounts {
        if !registry.iter().any(|adapter| adapter.name() == vendor) {
            return Err(format!("unknown vendor {vendor}"));
        }
        if !mount.starts_with('/') || mount.contains(['{', '}', '*', '?', '#']) {
            return Err(format!("{vendor}: {mount:?} must be a path starting with '/', without parameters"));
        }
    }
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    let mut seen: Vec<(Method, String)> = Vec::new();
    for adapter in registry.iter().filter(|a| enabled.iter().any(|name| name == a.name())) {
        for route in adapter.routes() {
            let path =
                mounted_path(adapter.as_ref(), route.path, mounts.get(adapter.name()).map(String::as_str));
            let shape = shape(&path);
            if let Some(owner) = owners.insert(shape.clone(), adapter.name())
                && owner != adapter.name()
            {
                return Err(format!("{} and {owner} would both be served at {path}", adapter.name()));
            }
            if seen.contains(&(route.method, shape.clone())) {
                return Err(format!("two routes would be served at {path}"));
            }
            seen.push((route.method, shape));
        }
    }
    Ok(())
}

/// A path with its parameters' names erased: two templates that differ
/// only in those names match the same requests.
fn shape(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                shape.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => shape.push(c),
            _ => {}
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_mount_replaces_the_vendors_base_path() {
        let jentis = consent_adapter_jentis::Jentis;
        assert_eq!(mounted_path(&jentis, "/jentis", None), "/jentis");
        assert_eq!(mounted_path(&jentis, "/jentis", Some("/")), "/");
        assert_eq!(mounted_path(&jentis, "/jentis", Some("/consent/")), "/consent");
        let intempt = consent_adapter_intempt::Intempt;
        let path = "/{orgName}/projects/{projectName}/consents/data";
        assert_eq!(mounted_path(&intempt, path, Some("/intempt")), format!("/intempt{path}"));
    }

    #[test]
    fn mounts_that_collide_or_are_not_paths_are_refused() {
        let registry = crate::registry();
        let all: Vec<String> = registry.iter().map(|a| a.name().to_owned()).collect();
        assert!(check_mounts(&registry, &all, &mounts(&[("jentis", "/")])).is_ok());
        assert!(check_mounts(&registry, &all, &mounts(&[("nobody", "/")])).is_err());
        assert!(check_mounts(&registry, &all, &mounts(&[("jentis", "relative")])).is_err());
        assert!(check_mounts(&registry, &all, &mounts(&[("jentis", "/{x}")])).is_err());
        let clash = mounts(&[("jentis", "/data/core/privacy/consent")]);
        let error = check_mounts(&registry, &all, &clash).unwrap_err();
        assert!(error.contains("adobe") && error.contains("jentis"), "{error}");
        let only_jentis = vec!["jentis".to_owned()];
        assert!(check_mounts(&registry, &only_jentis, &clash).is_ok(), "adobe is not served");
    }
}
