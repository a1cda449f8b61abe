//! `ApiError`: every HTTP failure as a status and `{"error": "..."}`.

use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The body of every error answer (SPEC: `{"error": "message"}`); a type
/// of its own so the OpenAPI description is generated from what is sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "unknown game \"1\""}))]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// `Retry-After` of every 503, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

/// An error answered to an HTTP client. 5xx causes are logged here and the
/// client gets a plain message, never internals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: credentials missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: this is not allowed here at all (e.g. the publish API is off).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 413: the request body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 503: the node cannot serve this now.
    #[error("{0}")]
    Unavailable(String),
    /// 500: something broke on our side; the cause (its whole source
    /// chain) is logged, the client hears only that it did.
    #[error("internal error")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal { context, source } = &self {
            let cause = crate::error_chain(source.as_ref());
            tracing::error!(context, %cause, "internal error");
        }
        let body = Json(ErrorBody {
            error: self.to_string(),
        });
        if let ApiError::Unavailable(_) = &self {
            // A 503 is temporary: say when to try again (the bus or the
            // node is usually back within seconds).
            let retry = [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS)];
            return (self.status(), retry, body).into_response();
        }
        (self.status(), body).into_response()
    }
}

/// A path segment axum cannot decode (e.g. `%FF`, not UTF-8) is the
/// client's mistake: a JSON 400 like every other, not axum's plain text.
impl From<PathRejection> for ApiError {
    fn from(why: PathRejection) -> Self {
        ApiError::BadRequest(format!("bad path: {}", why.body_text()))
    }
}
