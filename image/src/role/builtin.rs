//! The built-in roles, one YAML file per role and family (Debian and EL name their packages
//! differently), compiled into the binary so that `--role compute` works without any file.
use crate::meta::Family;

/// Names of the built-in roles.
pub const BUILTIN_ROLES: [&str; 4] = ["compute", "login", "storage", "head"];

/// The YAML of built-in role `name` for `family`, if there is one.
pub fn builtin(name: &str, family: Family) -> Option<&'static str> {
    Some(match (family, name) {
        (Family::Debian, "compute") => include_str!("../../roles/debian/compute.yaml"),
        (Family::Debian, "login") => include_str!("../../roles/debian/login.yaml"),
        (Family::Debian, "storage") => include_str!("../../roles/debian/storage.yaml"),
        (Family::Debian, "head") => include_str!("../../roles/debian/head.yaml"),
        (Family::El, "compute") => include_str!("../../roles/el/compute.yaml"),
        (Family::El, "login") => include_str!("../../roles/el/login.yaml"),
        (Family::El, "storage") => include_str!("../../roles/el/storage.yaml"),
        (Family::El, "head") => include_str!("../../roles/el/head.yaml"),
        _ => return None,
    })
}
