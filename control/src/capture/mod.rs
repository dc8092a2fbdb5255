//! Captures of running nodes, as the API sees them: a node streams its filesystems one by one into a
//! staging root on the appliance, then asks for the capture to be finished (scrubbed, described and,
//! with a disk layout, checked).
pub mod discover;
pub mod staging;

use serde::{Deserialize, Serialize};

use crate::names::check_name;

/// Most filesystems one capture may stream.
pub const MAX_FILESYSTEMS: usize = 64;

/// Body of `POST /api/v1/captures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCapture {
    /// The image the capture becomes a version of (created when new).
    pub image: String,
    /// The node captured (its name, or its host name when it is not a known node).
    pub node: String,
    /// Mount points of the filesystems that will be streamed, parents first (`/`, `/boot`).
    pub filesystems: Vec<String>,
}

impl NewCapture {
    /// Checks names and mount points.
    pub fn check(&self) -> Result<(), String> {
        check_name("image", &self.image)?;
        if self.node.is_empty() || self.node.len() > 253 || self.node.contains(['/', '\0']) {
            return Err(format!("invalid node name {:?}", self.node));
        }
        if self.filesystems.is_empty() || self.filesystems.len() > MAX_FILESYSTEMS {
            return Err(format!("a capture streams between 1 and {MAX_FILESYSTEMS} filesystems"));
        }
        if self.filesystems[0] != "/" {
            return Err("the first filesystem of a capture is the root, \"/\"".into());
        }
        for fs in &self.filesystems {
            let p = std::path::Path::new(fs);
            if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(format!("mount point {fs:?} must be absolute and must not contain '..'"));
            }
        }
        Ok(())
    }
}

/// A capture started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// Capture id, used in the URLs of its filesystems.
    pub id: String,
    /// What was asked.
    #[serde(flatten)]
    pub request: NewCapture,
}

/// Body of `POST /api/v1/captures/{id}/finish`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishCapture {
    /// The node's disk layout, as layout YAML, checked like an uploaded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
}

/// A finished capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureDone {
    /// Capture id.
    pub id: String,
    /// Image name.
    pub image: String,
    /// The version published.
    pub version: u32,
    /// Artifact size in bytes.
    pub artifact_bytes: u64,
    /// Bytes the version added to the store (chunks it shares with other versions cost nothing).
    pub new_bytes: u64,
    /// What the root holds.
    pub meta: ::image::meta::ImageMeta,
    /// The layout, checked, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::layout::Layout>,
}

/// Why a capture from this node failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureClientError {
    /// The control plane refused or could not be reached.
    #[error(transparent)]
    Api(#[from] crate::client::ClientError),
    /// Reading a filesystem failed.
    #[error(transparent)]
    Stream(#[from] ::image::capture::StreamError),
}

/// Captures the filesystems of `plan` (from [`::image::capture::plan_node`]) through `client` as a
/// capture of `node` for `image`, then finishes it with `layout` (layout YAML) when given.
pub fn capture_node(
    client: &crate::client::Client,
    image: &str,
    node: &str,
    plan: &[::image::capture::Filesystem],
    layout: Option<String>,
) -> Result<CaptureDone, CaptureClientError> {
    let filesystems = plan.iter().map(|f| f.mount_point.to_string_lossy().into_owned()).collect();
    let new = NewCapture { image: image.to_owned(), node: node.to_owned(), filesystems };
    let capture: Capture = client.send("POST", "/api/v1/captures", &new)?;
    for (index, fs) in plan.iter().enumerate() {
        tracing::info!(mount = %fs.mount_point.display(), fs_type = fs.fs_type, "capturing");
        let mut sending = ::image::capture::tar::start_send(fs)?;
        let path = format!("/api/v1/captures/{}/filesystems/{index}", capture.id);
        let sent = client.send_stream("PUT", &path, "application/x-tar", &mut sending);
        // tar's own failure explains a broken upload better than the upload's error does.
        sending.finish()?;
        sent?;
    }
    Ok(client.send("POST", &format!("/api/v1/captures/{}/finish", capture.id), &FinishCapture { layout })?)
}
