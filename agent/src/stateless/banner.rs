//! What the booted system says about itself: a unit that prints `image@version` on the console once
//! multi-user is reached (the operator's, and a VM test's, sign that the stateless boot worked), and
//! the same line in `/etc/issue` above every console login prompt.
use crate::config::{FileToWrite, LinkToMake, Rendered};

/// The unit's path in the root.
const UNIT: &str = "/etc/systemd/system/fountain-stateless.service";
/// Where it is enabled.
const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/fountain-stateless.service";
/// The console banner file.
const ISSUE: &str = "/etc/issue";

/// The line the booted node prints: `fountain: node NODE running IMAGE@VERSION stateless`.
pub fn line(node: &str, image: &str, version: u32) -> String {
    format!("fountain: node {node} running {image}@{version} stateless")
}

/// Adds the unit, its enabling link and the issue file (`issue` is the image's own, kept above the
/// line; a node config that writes the file keeps its own) to `out`. Node and image names are checked against the control plane's name alphabet, so
/// the line needs no quoting in the unit's shell command.
pub fn add(out: &mut Rendered, banner: &str, issue: &str) {
    let unit = format!(
        "# Written by the fountain agent at stateless boot.\n[Unit]\nDescription=fountain stateless boot banner\nAfter=multi-user.target\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo \"{banner}\" > /dev/console'\n\n[Install]\nWantedBy=multi-user.target\n"
    );
    out.files.push(FileToWrite { path: UNIT.into(), mode: 0o644, contents: unit.into_bytes() });
    out.links.push(LinkToMake { path: WANTS.into(), target: UNIT.into() });
    if out.files.iter().any(|f| f.path == ISSUE) {
        // The node's config writes its own banner file: the unit's console line is enough.
        return;
    }
    let mut text = issue.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{banner}\n\n"));
    out.files.push(FileToWrite { path: ISSUE.into(), mode: 0o644, contents: text.into_bytes() });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_prints_the_line_after_multi_user_and_issue_keeps_the_image_text() {
        let mut out = Rendered::default();
        let banner = line("n1", "deb", 3);
        assert_eq!(banner, "fountain: node n1 running deb@3 stateless");
        add(&mut out, &banner, "Debian GNU/Linux 12 \\n \\l\n");
        let unit = String::from_utf8(out.files[0].contents.clone()).unwrap();
        assert!(unit.contains("ExecStart=/bin/sh -c 'echo \"fountain: node n1 running deb@3 stateless\" > /dev/console'"), "{unit}");
        assert!(unit.contains("After=multi-user.target") && unit.contains("WantedBy=multi-user.target"));
        assert_eq!(out.links[0].target, UNIT);
        assert_eq!(out.files[1].contents, b"Debian GNU/Linux 12 \\n \\l\nfountain: node n1 running deb@3 stateless\n\n");
    }
}
