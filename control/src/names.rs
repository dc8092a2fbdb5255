//! Rules for the names and strings that end up in boot scripts, file paths and kernel command lines.
//!
//! Anything an operator types can reach an iPXE script or a kernel command line, where a space, a quote
//! or `${` would change its meaning; so every such string is checked against a small allowed alphabet
//! here, once, and the script writers can then paste it as it is.

/// Longest object name (node, image, layout, group): a DNS label.
pub const NAME_MAX_CHARS: usize = 63;
/// Longest kernel argument accepted from an operator.
pub const KERNEL_ARG_MAX_CHARS: usize = 255;

/// Checks an object name: 1 to 63 ASCII letters, digits, `-`, `_` or `.`, starting with a letter or digit.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX_CHARS
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {kind} name {:?}: use 1 to {NAME_MAX_CHARS} letters, digits, '-', '_' or '.', starting with a letter or digit",
            truncate(name)
        ))
    }
}

/// Checks a host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= NAME_MAX_CHARS
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("invalid hostname {:?}: use dot-separated labels of letters, digits and inner '-'", truncate(name)))
    }
}

/// Checks one kernel argument: no spaces, quotes, `$` or other characters that iPXE or the kernel's
/// command-line parser would interpret.
pub fn check_kernel_arg(arg: &str) -> Result<(), String> {
    let ok = !arg.is_empty()
        && arg.len() <= KERNEL_ARG_MAX_CHARS
        && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.,:=/+@%".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid kernel argument {:?}: use letters, digits and - _ . , : = / + @ % only (no spaces, quotes or '$')",
            truncate(arg)
        ))
    }
}

/// Checks an absolute path such as a mount point: starts with `/`, no `..`, no spaces or control characters.
pub fn check_abs_path(what: &str, path: &str) -> Result<(), String> {
    let ok = path.starts_with('/')
        && path.len() <= 4096
        && !path.split('/').any(|c| c == "..")
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} {:?}: expected an absolute path without '..' or spaces", truncate(path)))
    }
}

/// Keeps error messages short when someone sends a megabyte of garbage as a name.
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_alphabet() {
        assert!(check_name("node", "n001.rack-2_a").is_ok());
        for bad in ["", "-x", "a b", "a/b", "${x}", &"a".repeat(64)] {
            assert!(check_name("node", bad).unwrap_err().contains("invalid node name"), "{bad}");
        }
    }

    #[test]
    fn kernel_args_cannot_inject_script_syntax() {
        assert!(check_kernel_arg("console=ttyS0,115200n8").is_ok());
        for bad in ["a b", "x=${net0/mac}", "\"q\"", "a;b", ""] {
            assert!(check_kernel_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_and_paths() {
        assert!(check_hostname("node-1.cluster.local").is_ok());
        assert!(check_hostname("-bad").is_err());
        assert!(check_abs_path("mount point", "/srv/data").is_ok());
        assert!(check_abs_path("mount point", "srv").is_err());
        assert!(check_abs_path("mount point", "/a/../b").is_err());
    }
}
