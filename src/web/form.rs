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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct SignIn {
        csrf_token: String,
        email: String,
        password: String,
    }

    fn decode(content_type: &str, body: Vec<u8>) -> Result<(), WebError> {
        let request = Request::builder()
            .method("POST")
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(WebForm::<SignIn>::from_request(request, &()))
            .map(drop)
    }

    proptest! {
        /// Whatever arrives as a form is read or refused as a bad request; nothing panics.
        #[test]
        fn any_form_body_is_read_or_refused(
            body in prop::collection::vec(any::<u8>(), 0..200),
            content_type in prop::sample::select(vec![
                "application/x-www-form-urlencoded", "multipart/form-data", "text/plain", "",
            ]),
        ) {
            match decode(content_type, body) {
                Ok(()) | Err(WebError::BadRequest) => {}
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        /// Well-formed fields with any text are read, percent-encoding and all.
        #[test]
        fn any_text_in_the_fields_is_read(email in "\\PC{0,30}", password in "\\PC{0,30}") {
            let body = serde_urlencoded::to_string([
                ("csrf_token", "t"), ("email", &email), ("password", &password),
            ]).unwrap();
            prop_assert!(decode("application/x-www-form-urlencoded", body.into_bytes()).is_ok());
        }
    }
}
