//! Security headers on every response.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// No script at all. `form-action` also governs the redirect after a form is sent, so the
/// hosts that sign-in may send people back to (`rd`) are listed there too.
fn content_security_policy(redirect_domains: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for domain in redirect_domains {
        let d = domain.trim_start_matches('.');
        form_action.push_str(&format!(" {d}:* *.{d}:*"));
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

const HEADERS: [(HeaderName, &str); 5] = [
    (header::X_FRAME_OPTIONS, "DENY"),
    // no-referrer keeps setup links and `next` paths out of other sites' logs.
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    // Pages carry account data and CSRF tokens; static files set their own.
    (header::CACHE_CONTROL, "no-store"),
];

/// The same headers on an answer nidan builds outside the pages (the built-in proxy's and
/// forward-auth's own answers): they have no body, so nothing may load or frame them.
pub fn secure(response: &mut axum::response::Response) {
    retry_after(response);
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
}

/// How long a client should wait after a 503 before it tries again.
pub const RETRY_AFTER_SECS: &str = "5";

/// Every 503 of nidan's says when to come back (load balancers and the API's clients
/// read it; a person sees the page).
pub fn retry_after(response: &mut axum::response::Response) {
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static(RETRY_AFTER_SECS));
    }
}

pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    mut router: Router<S>,
    redirect_domains: &[String],
) -> Router<S> {
    router = router.layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            retry_after(&mut response);
            response
        },
    ));
    let csp = content_security_policy(redirect_domains);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            value,
        ));
    }
    for (name, value) in HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_action_lists_the_redirect_domains() {
        let csp = super::content_security_policy(&["example.home".into()]);
        assert!(
            csp.contains("form-action 'self' example.home:* *.example.home:*;"),
            "{csp}"
        );
        assert!(super::content_security_policy(&[]).contains("form-action 'self';"));
    }
}
