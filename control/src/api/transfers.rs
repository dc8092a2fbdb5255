//! Operator route for transfer sessions.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::extract::Admin;
use super::state::AppState;
use crate::error::ApiError;
use crate::sync::lock;
use crate::transfer::SessionStatus;
use crate::transfer::gather::SESSION_HISTORY_MAX;

/// `GET /api/v1/transfers`: every session with each receiver's state, oldest first: those of this run
/// from memory, earlier ones as the store last recorded them.
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<SessionStatus>>, ApiError> {
    let live = lock(&st.gatherer).status();
    let mut sessions: Vec<SessionStatus> = st.store.session_history(SESSION_HISTORY_MAX)?.into_iter().filter(|s| live.iter().all(|l| l.id != s.id)).collect();
    sessions.extend(live);
    sessions.sort_by_key(|s| s.id);
    Ok(Json(sessions))
}
