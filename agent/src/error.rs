//! Why the agent stopped.
use crate::cmdline::CmdlineError;
use crate::exec::ApplyError;
use crate::net::NetError;

/// An agent failure; it is printed on the console and, once the network is up, sent to the control
/// plane.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `/proc/cmdline` could not be read.
    #[error("reading the kernel command line: {0}")]
    Cmdline(std::io::Error),
    /// The kernel arguments are missing or wrong.
    #[error(transparent)]
    Args(#[from] CmdlineError),
    /// No network.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A call to the control plane failed.
    #[error("{doing}: {source}")]
    Api {
        /// What the agent was doing.
        doing: String,
        /// The client's error.
        source: control::client::ClientError,
    },
    /// The node has no layout assigned.
    #[error("node {0} has no disk layout assigned")]
    NoLayout(String),
    /// The node's layout does not parse (it was checked on upload, so the store or a newer server).
    #[error("the node's layout is invalid: {0}")]
    LayoutInvalid(String),
    /// Laying out the disks was refused before any write, or a step failed.
    #[error(transparent)]
    Layout(#[from] ApplyError),
    /// The image could not be had.
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    /// Installing the image failed.
    #[error(transparent)]
    Install(#[from] crate::install::InstallError),
    /// The job cannot be done by this agent.
    #[error("{0}")]
    Unsupported(String),
    /// A stateless boot stopped.
    #[error(transparent)]
    Stateless(#[from] crate::stateless::StatelessError),
}
