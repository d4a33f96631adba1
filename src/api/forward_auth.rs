//! Forward-auth: may the request a reverse proxy is holding go through to the guarded app?
//! `/auth/verify` for nginx's `auth_request` (reads `X-Original-URL`; answers 200, or 401 or
//! 403 with a Location that nginx's error_page follows) and `/auth/forward` for Traefik's and Caddy's
//! forward-auth (reads `X-Forwarded-Proto/-Host/-Uri`; answers 200 or a 302 to sign-in).
//! A target that stays ambiguous gets 400. Always an empty body, so that nginx keeps its
//! upstream connection alive.

use crate::web::routes::Routes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::auth::target::BadTarget;
use crate::guard::{self, Asked, Verdict};
use crate::web::WebState;
use crate::web::paths;

pub fn router() -> Routes {
    Routes::new()
        .route("/auth/verify", any(nginx))
        .route("/auth/forward", any(forwarded))
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Answers other than 200 may reach the browser (Traefik and Caddy pass them on).
fn empty(status: StatusCode) -> Response {
    let mut response = status.into_response();
    if status != StatusCode::OK {
        crate::web::headers::secure(&mut response);
    }
    response
}

/// An empty answer pointing at `location`: a redirect, or nginx's 401/403 with the way on.
fn to(status: StatusCode, location: &str) -> Response {
    let mut response = empty(status);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn refused(headers: &HeaderMap, why: &BadTarget) -> Response {
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info!(%why, request_id, "forward-auth refused an ambiguous request");
    empty(StatusCode::BAD_REQUEST)
}

async fn nginx(State(state): State<WebState>, request: Request) -> Response {
    let headers = request.headers();
    match guard::from_original_url(headers) {
        Ok(asked) => answer(&state, headers, &asked, false).await,
        Err(why) => refused(headers, &why),
    }
}

async fn forwarded(State(state): State<WebState>, request: Request) -> Response {
    let headers = request.headers();
    match guard::from_forwarded(headers) {
        Ok(asked) => answer(&state, headers, &asked, true).await,
        Err(why) => refused(headers, &why),
    }
}

async fn answer(
    state: &WebState,
    headers: &HeaderMap,
    asked: &Asked<'_>,
    redirect: bool,
) -> Response {
    let verdict = match guard::verdict(state, headers, &asked.target).await {
        Ok(v) => v,
        Err(e) => {
            let request_id = headers
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::warn!(error = %e, request_id, "forward-auth could not check the session");
            return empty(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let public_url = &state.settings().public_url;
    match verdict {
        Verdict::Allow(user) => {
            let mut response = empty(StatusCode::OK);
            response
                .headers_mut()
                .extend(guard::identity_headers(user.as_ref()));
            response
        }
        // nginx (no redirect) gets 401/403 with the same Location: its error_page sends the
        // browser there, since nginx itself cannot percent-encode the way back.
        Verdict::SignIn => {
            let url = asked.url();
            let rd = utf8_percent_encode(&url, NON_ALPHANUMERIC);
            let status = if redirect {
                StatusCode::FOUND
            } else {
                StatusCode::UNAUTHORIZED
            };
            to(
                status,
                &format!("{public_url}{}?rd={rd}", paths::to("/login")),
            )
        }
        Verdict::SetUpTwoStep => {
            let status = if redirect {
                StatusCode::FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            to(
                status,
                &format!("{public_url}{}", paths::to("/mypage/2fa/setup")),
            )
        }
    }
}
