//! API errors as RFC 9457 problem details, each kind with a stable `type`.
//! The one place where API errors become responses.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::auth::AuthError;

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable per kind of problem, e.g. `/api/v1/problems/wrong-code`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Seconds until a throttle or lock ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
    /// Codes this pending sign-in may still try.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<i64>,
}

#[derive(Debug)]
pub enum ApiError {
    BadBody(String),
    MissingCsrfHeader,
    NotSignedIn,
    NoPendingSignIn,
    Auth(AuthError),
}

impl ApiError {
    pub fn auth(err: AuthError) -> Self {
        ApiError::Auth(err)
    }
}

fn problem(status: StatusCode, slug: &str, title: &str) -> Problem {
    Problem {
        kind: format!("/api/v1/problems/{slug}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: None,
        retry_after: None,
        attempts_left: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use StatusCode as S;
        let p = match self {
            ApiError::BadBody(detail) => Problem {
                detail: Some(detail),
                ..problem(
                    S::BAD_REQUEST,
                    "bad-request",
                    "The request body is not valid",
                )
            },
            ApiError::MissingCsrfHeader => problem(
                S::FORBIDDEN,
                "missing-csrf-header",
                "Requests that change something need the X-Requested-With header",
            ),
            ApiError::NotSignedIn => problem(S::UNAUTHORIZED, "not-signed-in", "Not signed in"),
            ApiError::NoPendingSignIn => problem(
                S::UNAUTHORIZED,
                "sign-in-expired",
                "No sign-in is waiting for its second step; sign in again",
            ),
            ApiError::Auth(err) => auth_problem(err),
        };
        let status = S::from_u16(p.status).unwrap_or(S::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&p)).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = p.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

fn auth_problem(err: AuthError) -> Problem {
    use StatusCode as S;
    let wait = |retry_after: std::time::Duration| Some(retry_after.as_secs().max(1) as i64);
    match err {
        AuthError::MissingCredentials => problem(
            S::BAD_REQUEST,
            "missing-credentials",
            "Email address and password are required",
        ),
        AuthError::InvalidEmail(_) => {
            problem(S::BAD_REQUEST, "invalid-email", "Not a valid email address")
        }
        AuthError::EmailLookAlike(_) => problem(
            S::BAD_REQUEST,
            "email-look-alike",
            "The email address holds an invisible character or a letter that only looks like another",
        ),
        e @ (AuthError::PasswordTooShort { .. } | AuthError::PasswordTooLong) => Problem {
            detail: Some(e.to_string()),
            ..problem(
                S::BAD_REQUEST,
                "password-length",
                "The password is too short or too long",
            )
        },
        AuthError::PasswordTooCommon => problem(
            S::BAD_REQUEST,
            "password-too-common",
            "This password is too common or too easy to guess",
        ),
        AuthError::PasswordControlCharacters => problem(
            S::BAD_REQUEST,
            "password-characters",
            "A password cannot contain control characters such as line breaks or tabs",
        ),
        AuthError::ResetUnavailable => problem(
            S::FORBIDDEN,
            "reset-unavailable",
            "This server cannot send email, so a password cannot be reset here; ask the administrator",
        ),
        AuthError::ResetLinkInvalid => problem(
            S::GONE,
            "reset-link-invalid",
            "The link is not valid: used already, expired, or the password changed since",
        ),
        AuthError::EmailChangeUnavailable => problem(
            S::FORBIDDEN,
            "email-change-unavailable",
            "This server cannot send email, so the email address cannot be changed here; ask the administrator",
        ),
        AuthError::EmailTaken => problem(
            S::CONFLICT,
            "email-taken",
            "An account with this email address already exists",
        ),
        AuthError::EmailUnchanged => problem(
            S::BAD_REQUEST,
            "email-unchanged",
            "The new email address is the account's address already",
        ),
        AuthError::EmailChangeLinkInvalid => problem(
            S::GONE,
            "email-link-invalid",
            "The link is not valid: used already, expired, or the account's address or password changed since",
        ),
        AuthError::CodeRequired => problem(
            S::BAD_REQUEST,
            "code-required",
            "Two-step verification is on: a code from the app or a backup code is needed too",
        ),
        AuthError::PasswordUnchanged => problem(
            S::BAD_REQUEST,
            "password-unchanged",
            "The new password is the same as the current one",
        ),
        AuthError::WrongCredentials => problem(
            S::UNAUTHORIZED,
            "wrong-credentials",
            "Wrong email address or password",
        ),
        AuthError::WrongPassword => problem(S::UNAUTHORIZED, "wrong-password", "Wrong password"),
        AuthError::Throttled { retry_after } => Problem {
            retry_after: wait(retry_after),
            ..problem(
                S::TOO_MANY_REQUESTS,
                "throttled",
                "Too many failed attempts; wait before trying again",
            )
        },
        AuthError::CodeFormat => problem(S::BAD_REQUEST, "code-format", "A code is 6 digits"),
        AuthError::BackupCodeFormat => problem(
            S::BAD_REQUEST,
            "backup-code-format",
            "A backup code is 10 letters and digits",
        ),
        AuthError::WrongCode { attempts_left } => Problem {
            attempts_left,
            ..problem(S::UNAUTHORIZED, "wrong-code", "The code is not correct")
        },
        AuthError::TooManyWrongCodes => problem(
            S::UNAUTHORIZED,
            "too-many-wrong-codes",
            "Too many wrong codes; sign in again",
        ),
        AuthError::SessionEnded => problem(S::UNAUTHORIZED, "not-signed-in", "Not signed in"),
        AuthError::PendingExpired => problem(
            S::UNAUTHORIZED,
            "sign-in-expired",
            "The sign-in has expired; sign in again",
        ),
        AuthError::SecondStepLocked { retry_after } => Problem {
            retry_after: wait(retry_after),
            ..problem(
                S::TOO_MANY_REQUESTS,
                "second-step-locked",
                "Too many wrong codes for this account; wait before trying again",
            )
        },
        AuthError::SetupExpired => problem(
            S::CONFLICT,
            "setup-expired",
            "No set-up in progress; start with enable",
        ),
        AuthError::TwoStepAlreadyOn => problem(
            S::CONFLICT,
            "two-factor-already-on",
            "Two-step verification is already on",
        ),
        AuthError::TwoStepOff => problem(
            S::CONFLICT,
            "two-factor-off",
            "Two-step verification is off",
        ),
        AuthError::Unavailable(e) => {
            tracing::warn!(error = %e, "database unavailable");
            problem(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is unavailable right now",
            )
        }
        other => {
            tracing::error!(error = %other, "API request failed");
            problem(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on the server",
            )
        }
    }
}

/// `Json<T>` whose rejections are problems too.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::BadBody(describe(&rejection))),
        }
    }
}

fn describe(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "Content-Type must be application/json".to_owned()
        }
        other => other.body_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn decode(body: Vec<u8>) -> Result<(), ApiError> {
        let request = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(ApiJson::<Login>::from_request(request, &()))
            .map(drop)
    }

    proptest! {
        /// Any body is read or refused as a bad body (a 400 problem); nothing panics.
        #[test]
        fn any_json_body_is_read_or_refused(body in prop::collection::vec(any::<u8>(), 0..200)) {
            match decode(body) {
                Ok(()) => {}
                Err(e @ ApiError::BadBody(_)) => {
                    prop_assert_eq!(e.into_response().status(), StatusCode::BAD_REQUEST);
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        /// JSON-shaped bodies with odd values and types are refused the same way.
        #[test]
        fn odd_json_is_refused_cleanly(
            email in prop::sample::select(vec!["\"a@b.jp\"", "1", "null", "[]", "{}", "\"\\u0000\"", "true"]),
            extra in "[a-z]{0,5}",
        ) {
            let body = format!("{{\"email\":{email},\"password\":\"x\",\"{extra}\":0}}");
            match decode(body.into_bytes()) {
                Ok(()) | Err(ApiError::BadBody(_)) => {}
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
