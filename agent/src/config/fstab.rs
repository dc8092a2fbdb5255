//! The node config's block in `/etc/fstab`: kept between two marker lines, so the install step's own
//! lines (root, /boot by UUID) are never touched and applying a changed config replaces the old block
//! instead of adding a second one.

/// First line of the block.
const BEGIN: &str = "# BEGIN fountain node config (rewritten at every re-image; edit the node's config instead)";
/// Last line of the block.
const END: &str = "# END fountain node config";

/// `existing` with its fountain block (if any) removed and `lines` appended in a new block (none when
/// `lines` is empty).
pub(super) fn merge(existing: &str, lines: &[String]) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in existing.lines() {
        match line {
            BEGIN => inside = true,
            END if inside => inside = false,
            _ if !inside => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    if !lines.is_empty() {
        out.push_str(BEGIN);
        out.push('\n');
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(END);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_replaced_not_repeated_and_other_lines_stay() {
        let base = "UUID=abc / ext4 defaults 0 1\n";
        let once = merge(base, &["a:/x /x nfs defaults 0 0".into()]);
        assert_eq!(once, format!("{base}{BEGIN}\na:/x /x nfs defaults 0 0\n{END}\n"));
        let twice = merge(&once, &["b:/y /y nfs ro 0 0".into()]);
        assert_eq!(twice, format!("{base}{BEGIN}\nb:/y /y nfs ro 0 0\n{END}\n"));
        assert_eq!(merge(&twice, &[]), base);
    }
}
