//! Where a person goes after signing in: a path on this site, or (for forward-auth) the
//! guarded app's URL when its host is on the operator's allow-list. Nothing else.

use url::Url;

/// `next` only when it is a path on this site: never `//host`, `/\host`, a scheme, or
/// control characters.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    ok.then_some(next)
}

/// `rd` when it is an http(s) URL whose host is an allowed domain or below one.
pub fn allowed_url(rd: &str, allowed_domains: &[String]) -> Option<String> {
    if rd.len() > 4096 || rd.chars().any(char::is_control) {
        return None;
    }
    let url = Url::parse(rd).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let allowed = allowed_domains.iter().any(|d| {
        let d = d.trim_start_matches('.').to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    });
    allowed.then(|| url.to_string())
}

/// The allowed `rd`, else the local `next`, else `/`.
pub fn destination(next: &str, rd: &str, allowed_domains: &[String]) -> String {
    allowed_url(rd, allowed_domains)
        .or_else(|| local_path(next).map(str::to_owned))
        .unwrap_or_else(|| "/".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/mypage"), Some("/mypage"));
        assert_eq!(local_path("/a?b=c"), Some("/a?b=c"));
        for bad in [
            "",
            "mypage",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/ok\r\nLocation: x",
            "\t/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn rd_only_to_allowed_hosts() {
        let allowed = vec!["example.home".to_owned()];
        assert_eq!(
            allowed_url("https://cam.example.home/live?x=1", &allowed).as_deref(),
            Some("https://cam.example.home/live?x=1")
        );
        assert!(allowed_url("http://example.home/", &allowed).is_some());
        for bad in [
            "https://evil.example/",
            "https://example.home.evil.example/",
            "https://evilexample.home/",
            "javascript://example.home/%0aalert(1)",
            "ftp://cam.example.home/",
            "https://user:pw@cam.example.home/",
            "//cam.example.home/",
            "/local",
        ] {
            assert_eq!(allowed_url(bad, &allowed), None, "{bad:?}");
        }
        assert_eq!(
            destination("/mypage", "https://evil.example/", &allowed),
            "/mypage"
        );
        assert_eq!(destination("//evil", "", &allowed), "/");
        assert_eq!(
            destination("/x", "https://cam.example.home/", &[]),
            "/x",
            "no list, no rd"
        );
    }
}
