//! The dashboard's files, embedded in the binary: it works offline, with nothing to install.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::ApiError;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

pub async fn index() -> Result<Response, ApiError> {
    serve("index.html")
}

pub async fn file(Path(file): Path<String>) -> Result<Response, ApiError> {
    serve(&file)
}

fn serve(name: &str) -> Result<Response, ApiError> {
    let file = Assets::get(name).ok_or(ApiError::NotFound)?;
    let mime = file.metadata.mimetype().to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        file.data,
    )
        .into_response())
}
