//! Why the boot files could not be built.
use std::path::PathBuf;

/// A boot-file build failure; nothing is written to the output folder unless the build succeeds.
#[derive(Debug, thiserror::Error)]
pub enum BootFilesError {
    /// No kernel with modules on the build host.
    #[error("no usable kernel: {0} (install linux-image-amd64)")]
    NoKernel(String),
    /// `modules.dep` is unreadable or lacks a module the node needs.
    #[error(transparent)]
    Modules(#[from] image::initramfs::modules::ModulesError),
    /// A program the initramfs carries is not installed.
    #[error("{program} is not installed (Debian package {package})")]
    MissingProgram {
        /// Program name.
        program: String,
        /// Package that provides it.
        package: &'static str,
    },
    /// A library a binary needs is missing.
    #[error("{} needs {lib}, which ldd cannot find", binary.display())]
    MissingLibrary {
        /// The binary.
        binary: PathBuf,
        /// The library's name.
        lib: String,
    },
    /// An external tool failed (ldd, strip, zstd, xz).
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool and what it worked on.
        tool: String,
        /// Its error.
        reason: String,
    },
    /// Reading an input or writing an output failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl From<image::initramfs::compress::ToolError> for BootFilesError {
    fn from(e: image::initramfs::compress::ToolError) -> Self {
        BootFilesError::Tool { tool: e.tool, reason: e.reason }
    }
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BootFilesError {
    let context = context.into();
    move |source| BootFilesError::Io { context, source }
}
