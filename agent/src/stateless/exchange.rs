//! The two calls that bracket a stateless boot: the exchange, which trades the kernel command line's
//! token (good once; the control plane revokes it) for a boot credential the agent keeps in memory,
//! and the finish, which ends that credential just before switch_root.
use control::api::stateless_boot::StatelessBoot;

use crate::error::AgentError;
use crate::report::Reporter;

/// The path of a stateless-boot route of `node`.
fn path(node: &str, what: &str) -> String {
    format!("/api/v1/agent/nodes/{node}/stateless/{what}")
}

/// Trades the reporter's token (the command line's) for the boot credential and what the boot needs.
pub fn exchange(with_token: &Reporter, node: &str) -> Result<StatelessBoot, AgentError> {
    let path = path(node, "exchange");
    with_token.retry("exchanging the node token for a boot credential", |c| c.send("POST", &path, &()))
}

/// Ends the reporter's credential (the reporter must hold it, not the spent token).
pub fn finish(with_credential: &Reporter, node: &str) -> Result<(), AgentError> {
    let path = path(node, "finish");
    with_credential.retry("ending the boot credential", |c| c.send_text("POST", &path, ""))
}
