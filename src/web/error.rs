//! The one place where web errors become responses. People get a short bilingual page;
//! the detail goes to the log.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("bad request")]
    BadRequest,
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("request body too large")]
    TooLarge,
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    ja: &'static str,
    en: &'static str,
    /// "" or the pages prefix, for the style sheet.
    base: std::sync::Arc<str>,
    home: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, ja, en) = match &self {
            WebError::BadRequest => (
                StatusCode::BAD_REQUEST,
                "入力内容を読み取れませんでした。もう一度お試しください。",
                "The form could not be read. Please try again.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "ページの有効期限が切れました。前のページに戻り、再読み込みしてからもう一度お試しください。",
                "This page has expired. Go back, reload the page and try again.",
            ),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "ページが見つかりません。",
                "Page not found.",
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "送信された内容が大きすぎます。",
                "What was sent is too large.",
            ),
            WebError::Auth(AuthError::Unavailable(e)) => {
                tracing::warn!(error = %e, "database unavailable");
                let page = ErrorPage {
                    ja: "ただいまサービスを利用できません。しばらくしてからもう一度お試しください。",
                    en: "The service is unavailable right now. Please try again shortly.",
                    base: super::paths::prefix(),
                    home: super::paths::to("/"),
                };
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, super::headers::RETRY_AFTER_SECS)],
                    page,
                )
                    .into_response();
            }
            // Ended while the request was under way: as if it had ended before.
            WebError::Auth(AuthError::SessionEnded) => {
                return axum::response::Redirect::to(&super::paths::to("/login")).into_response();
            }
            WebError::Internal(_) | WebError::Auth(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "サーバーでエラーが発生しました。しばらくしてからもう一度お試しください。",
                    "Something went wrong on the server. Please try again later.",
                )
            }
        };
        let (base, home) = (super::paths::prefix(), super::paths::to("/"));
        (status, ErrorPage { ja, en, base, home }).into_response()
    }
}
