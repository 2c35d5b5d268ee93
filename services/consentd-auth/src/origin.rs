//! Browser origins as CORS and publishable keys compare them: the
//! serialization of RFC 6454 (`https://shop.example`, a port only when it is
//! not the scheme's default), which is what a browser's `Origin` header
//! carries.

/// `text` as an origin, or why it is not one (a path, query, fragment or
/// user name; an opaque URL).
pub fn normalize(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|err| format!("origin {text:?} is not a URL: {err}"))?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !bare || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("origin {text:?} must be scheme://host[:port], with nothing after it"));
    }
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(format!("origin {text:?} has no host"));
    }
    Ok(origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn origins_are_compared_as_browsers_send_them() {
        assert_eq!(normalize("https://Shop.Example").unwrap(), "https://shop.example");
        assert_eq!(normalize("https://shop.example:443/").unwrap(), "https://shop.example");
        assert_eq!(normalize("http://127.0.0.1:8081").unwrap(), "http://127.0.0.1:8081");
        for bad in
            ["shop.example", "https://shop.example/path", "https://u@shop.example", "data:text/plain,x"]
        {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
