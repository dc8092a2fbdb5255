//! Operator route for transfer sessions.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::extract::Admin;
use super::state::AppState;
use crate::sync::lock;
use crate::transfer::SessionStatus;

/// `GET /api/v1/transfers`: every session with each receiver's state.
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Json<Vec<SessionStatus>> {
    Json(lock(&st.gatherer).status())
}
