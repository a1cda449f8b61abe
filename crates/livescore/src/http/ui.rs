//! The scoreboard page: `web/` embedded in the binary, so the one binary is
//! the whole product and no build step stands between a clone and a demo.

use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// `GET /`.
#[utoipa::path(get, path = "/", tag = "ui",
    responses((status = 200, description = "The live scoreboard page",
        content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    serve("index.html")
}

/// Any other GET: an embedded asset, else a JSON 404.
pub async fn asset(uri: Uri) -> Response {
    serve(uri.path().trim_start_matches('/'))
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_owned()),
                    // Assets change with the binary; revalidate each load.
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                file.data,
            )
                .into_response()
        }
        None => ApiError::NotFound(format!("no such resource: /{path}")).into_response(),
    }
}
