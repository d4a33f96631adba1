//! nidan's routes, written once: each module adds its routes here, and the paths they answer
//! are kept beside the router, so that the built-in proxy knows which paths stay nidan's when
//! one app takes every other path (no second list to keep in step by hand).

use axum::Router;
use axum::routing::MethodRouter;

use super::WebState;

/// A router and the patterns of its routes (`/setup/{token}`).
pub struct Routes {
    router: Router<WebState>,
    patterns: Vec<&'static str>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            patterns: Vec::new(),
        }
    }

    pub fn route(mut self, pattern: &'static str, method: MethodRouter<WebState>) -> Self {
        self.router = self.router.route(pattern, method);
        self.patterns.push(pattern);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.patterns.extend(other.patterns);
        self
    }

    /// Layers around the routes so far; the patterns stay.
    pub fn map(mut self, f: impl FnOnce(Router<WebState>) -> Router<WebState>) -> Self {
        self.router = f(self.router);
        self
    }

    /// The router, and what it answers.
    pub fn into_parts(self) -> (Router<WebState>, OwnPaths) {
        (self.router, OwnPaths(self.patterns))
    }
}

/// The paths nidan's router answers, matched the way it matches them: segment by segment, a
/// `{name}` segment standing for any one non-empty segment.
#[derive(Debug, Clone, Default)]
pub struct OwnPaths(Vec<&'static str>);

impl OwnPaths {
    pub fn extend(&mut self, other: OwnPaths) {
        self.0.extend(other.0);
    }

    /// Whether `path` is one of nidan's, leaving `/` (the front of the site) to the app.
    pub fn contains(&self, path: &str) -> bool {
        path != "/" && self.0.iter().any(|pattern| matches(pattern, path))
    }
}

/// The paths in order, for a warning: `/login, /login/2fa, /setup/{token}, …`.
impl std::fmt::Display for OwnPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut patterns = self.0.clone();
        patterns.sort_unstable();
        patterns.dedup();
        f.write_str(&patterns.join(", "))
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(patterns: &[&'static str]) -> OwnPaths {
        OwnPaths(patterns.to_vec())
    }

    #[test]
    fn a_path_is_nidans_when_a_route_answers_it() {
        let own = own(&[
            "/",
            "/login",
            "/login/2fa",
            "/setup/{token}",
            "/api/v1/login",
        ]);
        for path in ["/login", "/login/2fa", "/setup/abc", "/api/v1/login"] {
            assert!(own.contains(path), "{path}");
        }
        for path in [
            "/",
            "/login/",
            "/loginx",
            "/Login",
            "/setup/",
            "/setup/abc/def",
            "/api/v1",
            "/api/v2/login",
            "/api/events",
            "/live",
        ] {
            assert!(!own.contains(path), "{path}");
        }
    }
}
