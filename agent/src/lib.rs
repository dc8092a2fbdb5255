//! The node agent: the job of the initramfs that a node PXE-boots into. It reads its `fountain.*`
//! kernel arguments, reports the node's hardware to the control plane, turns (layout, inventory) into
//! an ordered plan of disk steps with no I/O, runs that plan, and then installs or mounts the image.
pub mod bootfiles;
pub mod cmdline;
pub mod config;
pub mod delivery;
mod error;
pub mod exec;
pub mod install;
pub mod inventory;
pub mod layout;
pub mod net;
pub mod plan;
mod report;
pub mod run;
pub mod stateless;

pub use error::AgentError;
