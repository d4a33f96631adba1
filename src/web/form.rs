//! Form bodies. A body that cannot be read becomes our error page, not axum's text.

use axum::Form;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::WebError;

pub struct WebForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        Form::<T>::from_request(req, state)
            .await
            .map(|Form(value)| WebForm(value))
            .map_err(|_| WebError::BadRequest)
    }
}
