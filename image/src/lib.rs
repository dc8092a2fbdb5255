//! Images: the one compressed filesystem artifact per version that stateful nodes unpack and stateless
//! nodes mount, how it is made (from distribution media with a role, or captured from a running node),
//! and the content-addressed store on the appliance that keeps every version.
pub mod artifact;
pub mod build;
pub mod initramfs;
pub mod capture;
pub mod command;
mod durable;
pub mod iso;
pub mod meta;
pub mod publish;
pub mod role;
pub mod rootfs;
pub mod store;

/// Now, in seconds since the Unix epoch (0 if the clock is before it).
fn now_unix_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
