//! Where nidan's own paths live: at the root (the default), or all under one prefix
//! (`--pages-prefix /.nidan`) so that a catch-all upstream gets every other path. Routes
//! are written once, without the prefix; links, redirects and cookie paths go through
//! [`to`], which adds the prefix of the server handling the request.

use super::WebState;

tokio::task_local! {
    static PREFIX: std::sync::Arc<str>;
}

/// `path` (one of nidan's own, starting with `/`) as the browser must ask for it. The
/// front page under a prefix is the prefix itself (`/.nidan`, not `/.nidan/`).
pub fn to(path: &str) -> String {
    PREFIX
        .try_with(|prefix| match path {
            "/" if !prefix.is_empty() => prefix.to_string(),
            _ => format!("{prefix}{path}"),
        })
        .unwrap_or_else(|_| path.to_owned())
}

/// The prefix of the request being handled ("" without one).
pub fn prefix() -> std::sync::Arc<str> {
    PREFIX.try_with(Clone::clone).unwrap_or_else(|_| "".into())
}

/// Runs `handled` with this server's prefix known to [`to`].
pub async fn scope<F: std::future::Future>(state: &WebState, handled: F) -> F::Output {
    PREFIX
        .scope(state.settings().pages_prefix.clone(), handled)
        .await
}

/// Whether `path` is under `prefix` (the prefix itself included).
pub fn is_under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A valid prefix: `/` and one or more segments of letters, digits and `.-_~`, no
/// trailing `/`, no `.` or `..` segment.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err(format!("{prefix:?} must start with /"));
    };
    let segments_ok = rest.split('/').all(|s| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b))
    });
    if segments_ok && prefix.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?} is not a path prefix like /.nidan (letters, digits and . - _ ~ between slashes, no / at the end)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_paths() {
        for good in ["/.nidan", "/auth", "/a/b", "/_x-1~"] {
            assert_eq!(check_prefix(good), Ok(()), "{good}");
        }
        for bad in [
            "", "/", ".nidan", "/.nidan/", "/a//b", "/..", "/./x", "/a b", "/%2e", "/ü",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
        assert!(is_under("/.nidan", "/.nidan"));
        assert!(is_under("/.nidan", "/.nidan/login"));
        assert!(!is_under("/.nidan", "/.nidanx"));
        assert!(!is_under("/.nidan", "/login"));
    }

    #[tokio::test]
    async fn links_get_the_prefix_of_the_request() {
        assert_eq!(to("/login"), "/login");
        let inside = PREFIX.scope("/.nidan".into(), async { (to("/login"), to("/")) });
        assert_eq!(inside.await, ("/.nidan/login".into(), "/.nidan".into()));
    }
}
