//! `/api/silences`: Prometheus Alertmanager's v2 silence API, so that people and scripts that
//! know it need nothing new (also under its own paths, `/api/v2/silences` and
//! `/api/v2/silence/{id}`, for `amtool`). A silence is posted as Alertmanager writes it and
//! answered `{"silenceID": …}`; posting one with the `id` of a silence not yet expired
//! replaces it. Deleting expires it: it stays listed, with its history. A listed silence
//! carries Alertmanager's `status.state` and, beside it, `mutes`: the open incidents it mutes
//! now.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use ic_core::silence::{Silence, SilenceSpec, SilenceState};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::silences::{Shown, shown};

#[derive(Debug, Serialize)]
pub struct Created {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

/// Every silence kept, those that start last first.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Shown>>, ApiError> {
    let silences = state.store.silences(None).await?;
    Ok(Json(
        shown(state.store.as_ref(), silences, Utc::now()).await?,
    ))
}

async fn one(state: &AppState, silence: Silence, now: DateTime<Utc>) -> Result<Shown, ApiError> {
    let mut shown = shown(state.store.as_ref(), vec![silence], now).await?;
    Ok(shown.remove(0))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Shown>, ApiError> {
    let silence = state.store.silence(&id).await?;
    Ok(Json(one(&state, silence, Utc::now()).await?))
}

pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<SilenceSpec>, JsonRejection>,
) -> Result<Json<Created>, ApiError> {
    let Json(spec) = body.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let now = Utc::now();
    spec.validate(now)
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let id = match &spec.id {
        Some(id) => {
            let existing = state.store.silence(id).await?;
            if existing.state(now) == SilenceState::Expired {
                return Err(ApiError::BadRequest(format!(
                    "silence {id} has expired; post the silence without an id to make a new one"
                )));
            }
            id.clone()
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let silence = spec.into_silence(id.clone(), now);
    state.store.save_silence(&silence, now).await?;
    honour_now(&state, now).await;
    tracing::info!(silence = %id, "Silence saved.");
    Ok(Json(Created { silence_id: id }))
}

pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Shown>, ApiError> {
    let now = Utc::now();
    let silence = state.store.expire_silence(&id, now).await?;
    honour_now(&state, now).await;
    tracing::info!(silence = %id, "Silence expired.");
    Ok(Json(one(&state, silence, now).await?))
}

/// Reads the silences again at once, so that this instance honours the change without
/// waiting for its next look; a failure leaves that look to do it.
async fn honour_now(state: &AppState, now: DateTime<Utc>) {
    let store = state.store.as_ref();
    let read = match state.silences.refresh(store, now).await {
        Ok(()) => crate::silences::mark_matched(store, &state.silences, now).await,
        err => err,
    };
    if let Err(err) = read {
        tracing::warn!(%err, "Reading the silences failed; the next look reads them.");
    }
}
