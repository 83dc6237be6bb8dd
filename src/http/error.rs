//! The one error type handlers return. Maps to 400/401/404/406/503 with a short JSON
//! reason; internal detail is logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message is safe to show.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown or not visible to this caller: the same answer for both (no oracle).
    #[error("not found")]
    NotFound,
    /// A bug or an unexpected failure; logged, answered with a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
    /// Something the server needs is missing or down; the message is safe to show.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::tile::TileError> for AppError {
    fn from(e: crate::tile::TileError) -> Self {
        match e {
            crate::tile::TileError::Encode(m) => AppError::Internal(m),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not found".to_string()),
            AppError::Unavailable(m) => {
                tracing::error!(reason = %m, "request refused");
                (StatusCode::SERVICE_UNAVAILABLE, m.clone())
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
