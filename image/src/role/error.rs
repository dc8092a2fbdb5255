//! What can be wrong with a role file.

/// A role that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Not YAML, or not the role schema (unknown field, wrong type); the message has line and column.
    #[error("role: {0}")]
    Syntax(String),
    /// Larger than [`super::ROLE_MAX_BYTES`].
    #[error("role: larger than {0} bytes")]
    TooLarge(usize),
    /// Neither a built-in role nor a readable file.
    #[error("role {0:?}: not a built-in role (compute, login, storage, head) and no such file")]
    Unknown(String),
    /// The file could not be read.
    #[error("role {0}: {1}")]
    Read(String, String),
    /// A package, group, service, user or owner name that is empty or could be read as an option.
    #[error("role: invalid {what} name {value:?} (letters, digits and ._+-@: only, not starting with '-')")]
    BadName {
        /// What kind of name.
        what: &'static str,
        /// What was written.
        value: String,
    },
    /// A file path that is not absolute or climbs out of the image with `..`.
    #[error("role: path {0:?} must be absolute and must not contain '..'")]
    BadPath(String),
    /// A file mode that is not octal or is larger than 07777.
    #[error("role: file {path}: mode {mode:?} is not an octal mode such as \"0644\"")]
    BadMode {
        /// The file.
        path: String,
        /// What was written.
        mode: String,
    },
    /// Comps groups asked of a Debian build.
    #[error("role: groups {0:?} are EL comps groups; a Debian role lists packages only")]
    GroupsOnDebian(Vec<String>),
}
