//! `/api/v1`'s routes for the account's own changes: the password (changed, or forgotten and
//! reset through the emailed link) and the email address (asked for, then confirmed through
//! the link sent to the new one).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::{ApiError, ApiJson, Problem};
use super::v1::{ApiUser, OK, Outcome, StatusOk};
use crate::auth::Client;
use crate::web::WebState;
use crate::web::routes::Routes;
use crate::web::session::with_session;

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/password", post(change_password))
        .route("/api/v1/password/forgot", post(forgot_password))
        .route("/api/v1/password/reset", post(reset_password))
        .route("/api/v1/email", post(change_email))
        .route("/api/v1/email/confirm", post(confirm_email))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    #[schema(format = Password, max_length = 128)]
    current_password: String,
    /// At least the configured minimum (12 by default) and at most 128 characters, not a
    /// common or easily guessed password, and not the current one.
    #[schema(format = Password, max_length = 128)]
    new_password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotRequest {
    #[schema(example = "xxx@co.jp", max_length = 254)]
    email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The `token` of the link in the email.
    #[schema(max_length = 128)]
    token: String,
    #[schema(format = Password, max_length = 128)]
    new_password: String,
    /// When two-step verification is on: 6 digits from the app, or a backup code.
    #[serde(default)]
    #[schema(example = "124822", max_length = 64)]
    code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct EmailChangeRequest {
    #[schema(example = "new@co.jp", max_length = 254)]
    new_email: String,
    #[schema(format = Password, max_length = 128)]
    current_password: String,
    /// When two-step verification is on: 6 digits from the app, or a backup code.
    #[serde(default)]
    #[schema(example = "124822", max_length = 64)]
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChangeResponse {
    status: Outcome,
    /// Where the link went.
    new_email: String,
    /// Until when the link works (Unix time, seconds).
    expires_at: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct EmailConfirmRequest {
    /// The `token` of the link in the email.
    #[schema(max_length = 128)]
    token: String,
}

/// Change the password: the current one, then the new one. Every other session and every
/// pending sign-in of the account ends; this one is renewed.
#[utoipa::path(post, path = "/api/v1/password", request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed; other sessions ended, this one renewed", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn change_password(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    jar: CookieJar,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> Result<Response, ApiError> {
    let current = SecretString::from(body.current_password);
    let new = SecretString::from(body.new_password);
    let session = state
        .auth()
        .change_password(&user, &current, &new, &client)
        .await
        .map_err(ApiError::auth)?;
    let jar = with_session(&state, jar, session);
    Ok((jar, Json(OK)).into_response())
}

/// Forgotten password: a link to choose a new one is emailed when the address has an
/// account. The answer is the same either way.
#[utoipa::path(post, path = "/api/v1/password/forgot", request_body = ForgotRequest,
    responses(
        (status = 202, description = "A link is on its way if the address has an account", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn forgot_password(
    State(state): State<WebState>,
    client: Client,
    ApiJson(body): ApiJson<ForgotRequest>,
) -> Result<Response, ApiError> {
    state
        .auth()
        .request_password_reset(&body.email, &client)
        .await
        .map_err(ApiError::auth)?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(OK)).into_response())
}

/// A new password through the emailed link's token (and a code when two-step
/// verification is on). Every session of the account ends; sign in again afterwards.
#[utoipa::path(post, path = "/api/v1/password/reset", request_body = ResetRequest,
    responses(
        (status = 200, description = "The new password is set", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reset_password(
    State(state): State<WebState>,
    client: Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Response, ApiError> {
    let new = SecretString::from(body.new_password);
    state
        .auth()
        .reset_password(&body.token, &new, &body.code, &client)
        .await
        .map_err(ApiError::auth)?;
    Ok(Json(OK).into_response())
}

/// Change the email address: the password again (and a code when two-step verification is
/// on); a link goes to the new address and a notice to the old one. Nothing changes until
/// the link's token is confirmed.
#[utoipa::path(post, path = "/api/v1/email", request_body = EmailChangeRequest,
    responses(
        (status = 202, description = "The link is on its way to the new address", body = EmailChangeResponse),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn change_email(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<EmailChangeRequest>,
) -> Result<Response, ApiError> {
    let password = SecretString::from(body.current_password);
    let sent = state
        .auth()
        .request_email_change(&user, &body.new_email, &password, &body.code, &client)
        .await
        .map_err(ApiError::auth)?;
    let body = EmailChangeResponse {
        status: Outcome::Ok,
        new_email: sent.new_email,
        expires_at: sent.expires_at,
    };
    Ok((axum::http::StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Confirm a new email address with the token of the link sent to it; the account's
/// address becomes the new one. Needs no session: the link is the proof.
#[utoipa::path(post, path = "/api/v1/email/confirm", request_body = EmailConfirmRequest,
    responses(
        (status = 200, description = "The account has its new address", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm_email(
    State(state): State<WebState>,
    client: Client,
    ApiJson(body): ApiJson<EmailConfirmRequest>,
) -> Result<Response, ApiError> {
    state
        .auth()
        .confirm_email_change(&body.token, &client)
        .await
        .map_err(ApiError::auth)?;
    Ok(Json(OK).into_response())
}
