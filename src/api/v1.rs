//! `/api/v1`: sign-in and two-step verification for programs and single-page apps. The same
//! use-cases, limits and cookie session as the pages; writes need `X-Requested-With`.

use crate::auth::Client;
use crate::web::routes::Routes;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::account;
use super::problem::{ApiError, ApiJson, Problem};
use crate::auth::{LoginAttempt, LoginOutcome, SecondFactor, SignedIn};
use crate::web::session::{
    pending_cookie, pending_removal, pending_token, session_removal, session_token, with_session,
};
use crate::web::{WebState, secure_cookies};

const PENDING_PATH: &str = "/api/v1/login";

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/login/totp", post(login_totp))
        .route("/api/v1/login/backup-code", post(login_backup_code))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/2fa/enable", post(enable))
        .route("/api/v1/2fa/confirm", post(confirm))
        .route("/api/v1/2fa/disable", post(disable))
        .route("/api/v1/2fa/backup-codes", post(regenerate))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(account::router())
        .map(|r| r.layer(middleware::from_fn(require_csrf_header)))
}

/// A cross-site form cannot set this header, and a cross-site script may not without CORS.
async fn require_csrf_header(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let has = req
        .headers()
        .get("x-requested-with")
        .is_some_and(|v| !v.is_empty());
    if safe || has {
        next.run(req).await
    } else {
        ApiError::MissingCsrfHeader.into_response()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nidan",
        description = "Sign-in with two-step verification (TOTP)"
    ),
    paths(
        login,
        login_totp,
        login_backup_code,
        logout,
        me,
        account::change_password,
        account::forgot_password,
        account::reset_password,
        account::change_email,
        account::confirm_email,
        enable,
        confirm,
        disable,
        regenerate
    ),
    components(schemas(
        Problem,
        LoginRequest,
        CodeRequest,
        PasswordRequest,
        account::PasswordChangeRequest,
        account::ForgotRequest,
        account::ResetRequest,
        account::EmailChangeRequest,
        account::EmailChangeResponse,
        account::EmailConfirmRequest,
        Outcome,
        StatusOk,
        BackupCodeOk,
        Me,
        TwoStep,
        TotpSetupResponse,
        BackupCodes
    ))
)]
pub struct ApiDoc;

async fn openapi() -> impl IntoResponse {
    let mut doc = ApiDoc::openapi();
    // Under a pages prefix, the paths are relative to it.
    let prefix = crate::web::paths::prefix();
    if !prefix.is_empty() {
        doc.servers = Some(vec![utoipa::openapi::server::Server::new(prefix.as_ref())]);
    }
    let json = doc.to_json().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], json)
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "xxx@co.jp", max_length = 254)]
    email: String,
    #[schema(format = Password, max_length = 128)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// 6 digits from the app, or a backup code (`xxxxx-xxxxx`).
    #[schema(example = "124822", max_length = 64)]
    code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordRequest {
    #[schema(format = Password, max_length = 128)]
    password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    SecondFactorRequired,
}

#[derive(Serialize, ToSchema)]
pub struct StatusOk {
    pub(super) status: Outcome,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodeOk {
    status: Outcome,
    backup_codes_left: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = TwoFactor)] // the schema's name since API v1 began
pub struct TwoStep {
    enabled: bool,
    backup_codes_left: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    email: String,
    is_admin: bool,
    // Named `two_factor` since API v1 began; kept so that clients keep working.
    #[serde(rename = "two_factor")]
    two_step: TwoStep,
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// Base32, for typing into an authenticator app.
    secret: String,
    otpauth_uri: String,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodes {
    backup_codes: Vec<String>,
}

pub(super) const OK: StatusOk = StatusOk {
    status: Outcome::Ok,
};

/// The signed-in account, or a 401 problem.
pub struct ApiUser(pub(super) SignedIn);

impl FromRequestParts<WebState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, ApiError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = session_token(&jar).ok_or(ApiError::NotSignedIn)?;
        match state.auth().session(&token).await {
            Ok(Some(user)) => Ok(ApiUser(user)),
            Ok(None) => Err(ApiError::NotSignedIn),
            Err(e) => Err(ApiError::auth(e)),
        }
    }
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in, or the second step is due", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    State(state): State<WebState>,
    client: Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let attempt = LoginAttempt {
        email: body.email,
        password: SecretString::from(body.password),
        client: client.clone(),
        next: "/".to_owned(),
    };
    match state
        .auth()
        .sign_in(attempt)
        .await
        .map_err(ApiError::auth)?
    {
        LoginOutcome::SignedIn(session) => {
            let jar = with_session(&state, jar, session);
            Ok((jar, Json(OK)).into_response())
        }
        LoginOutcome::SecondStepRequired { pending_token } => {
            let cookie = pending_cookie(pending_token, secure_cookies(&state), PENDING_PATH);
            let body = StatusOk {
                status: Outcome::SecondFactorRequired,
            };
            Ok((jar.add(cookie), Json(body)).into_response())
        }
    }
}

async fn second_step(
    state: &WebState,
    client: &Client,
    jar: CookieJar,
    factor: SecondFactor,
    code: &str,
) -> Result<(CookieJar, Option<i64>), ApiError> {
    let token = pending_token(&jar).ok_or(ApiError::NoPendingSignIn)?;
    let done = state
        .auth()
        .second_step(&token, factor, code, client)
        .await
        .map_err(ApiError::auth)?;
    let jar = with_session(
        state,
        jar.remove(pending_removal(PENDING_PATH)),
        done.session,
    );
    Ok((jar, done.backup_codes_left))
}

/// The second step with a code from the authenticator app.
#[utoipa::path(post, path = "/api/v1/login/totp", request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login_totp(
    State(state): State<WebState>,
    client: Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (jar, _) = second_step(&state, &client, jar, SecondFactor::Totp, &body.code).await?;
    Ok((jar, Json(OK)).into_response())
}

/// The second step with a backup code; each works once.
#[utoipa::path(post, path = "/api/v1/login/backup-code", request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in", body = BackupCodeOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login_backup_code(
    State(state): State<WebState>,
    client: Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (jar, left) =
        second_step(&state, &client, jar, SecondFactor::BackupCode, &body.code).await?;
    let body = BackupCodeOk {
        status: Outcome::Ok,
        backup_codes_left: left.unwrap_or(0),
    };
    Ok((jar, Json(body)).into_response())
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/logout",
    responses((status = 200, description = "Signed out", body = StatusOk)))]
async fn logout(
    State(state): State<WebState>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&jar) {
        state
            .auth()
            .sign_out(&token, &client)
            .await
            .map_err(ApiError::auth)?;
    }
    Ok((jar.remove(session_removal(&state)), Json(OK)).into_response())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me",
    responses(
        (status = 200, description = "The account", body = Me),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
async fn me(State(state): State<WebState>, ApiUser(user): ApiUser) -> Result<Json<Me>, ApiError> {
    let status = state
        .auth()
        .two_step_status(user.user_id)
        .await
        .map_err(ApiError::auth)?;
    Ok(Json(Me {
        email: user.email,
        is_admin: user.is_admin,
        two_step: TwoStep {
            enabled: status.enabled,
            backup_codes_left: status.backup_codes_left,
        },
    }))
}

/// Turning it on, step 1: the password again; returns the key for the app.
#[utoipa::path(post, path = "/api/v1/2fa/enable", request_body = PasswordRequest,
    responses(
        (status = 200, description = "The key; confirm it with a code", body = TotpSetupResponse),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn enable(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Json<TotpSetupResponse>, ApiError> {
    let auth = state.auth();
    let password = SecretString::from(body.password);
    auth.begin_totp_setup(&user, &password, &client)
        .await
        .map_err(ApiError::auth)?;
    let setup = auth
        .totp_setup(&user)
        .await
        .map_err(ApiError::auth)?
        .ok_or(ApiError::auth(crate::auth::AuthError::SetupExpired))?;
    Ok(Json(TotpSetupResponse {
        secret: setup.secret_base32,
        otpauth_uri: setup.otpauth_uri,
    }))
}

/// Turning it on, step 2: the first code; returns the backup codes (shown once).
#[utoipa::path(post, path = "/api/v1/2fa/confirm", request_body = CodeRequest,
    responses(
        (status = 200, description = "On; other sessions ended, this one renewed", body = BackupCodes),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    jar: CookieJar,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let (codes, session) = state
        .auth()
        .confirm_totp_setup(&user, &body.code, &client)
        .await
        .map_err(ApiError::auth)?;
    let jar = with_session(&state, jar, session);
    Ok((
        jar,
        Json(BackupCodes {
            backup_codes: codes,
        }),
    )
        .into_response())
}

/// Turn it off with the password; the secret and backup codes are deleted.
#[utoipa::path(post, path = "/api/v1/2fa/disable", request_body = PasswordRequest,
    responses(
        (status = 200, description = "Off; other sessions ended, this one renewed", body = StatusOk),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disable(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    jar: CookieJar,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Response, ApiError> {
    let password = SecretString::from(body.password);
    let session = state
        .auth()
        .disable_totp(&user, &password, &client)
        .await
        .map_err(ApiError::auth)?;
    let jar = with_session(&state, jar, session);
    Ok((jar, Json(OK)).into_response())
}

/// A new set of backup codes with the password; the old set dies.
#[utoipa::path(post, path = "/api/v1/2fa/backup-codes", request_body = PasswordRequest,
    responses(
        (status = 200, description = "The new codes; other sessions ended", body = BackupCodes),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ))]
async fn regenerate(
    State(state): State<WebState>,
    client: Client,
    ApiUser(user): ApiUser,
    jar: CookieJar,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Response, ApiError> {
    let password = SecretString::from(body.password);
    let (codes, session) = state
        .auth()
        .regenerate_backup_codes(&user, &password, &client)
        .await
        .map_err(ApiError::auth)?;
    let jar = with_session(&state, jar, session);
    Ok((
        jar,
        Json(BackupCodes {
            backup_codes: codes,
        }),
    )
        .into_response())
}
