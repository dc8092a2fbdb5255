//! Whether a stateless node's window can gain a second node. A node alone in its window waits the
//! whole window (10 s by default) for company before its download starts; when no other node is set
//! to boot or re-image that version (or every other one is forced to unicast, which never joins a
//! window), nobody can come, and the wait only delays the boot.
use crate::node::{ImageRef, NextBoot, Node};
use crate::transfer::DeliveryChoice;

/// Whether some node other than `me` could join a window for `version` of `image`: set to re-image
/// or boot stateless, with that version (`resolve` gives the version an image reference stands for
/// now, `None` when it stands for none), and not forced to unicast.
pub fn can_gain(nodes: &[Node], me: &str, image: &str, version: u32, resolve: impl Fn(&ImageRef) -> Option<u32>) -> bool {
    nodes.iter().any(|n| {
        n.name != me
            && matches!(n.next_boot, NextBoot::Reimage | NextBoot::Stateless)
            && n.delivery != Some(DeliveryChoice::Unicast)
            && n.image.as_ref().is_some_and(|r| r.name == image && resolve(r) == Some(version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, image: Option<(&str, Option<u32>)>, next_boot: NextBoot, delivery: Option<DeliveryChoice>) -> Node {
        let image = image.map(|(i, v)| ImageRef { name: i.into(), version: v });
        let (boot_mode, config) = (crate::node::BootMode::Stateless, crate::node::NodeConfig::default());
        Node { name: name.into(), macs: Vec::new(), groups: Vec::new(), image, layout: None, boot_mode, next_boot, config, installed: None, delivery }
    }

    #[test]
    fn only_a_node_that_could_share_the_version_is_company() {
        // deb's default is 2.
        let resolve = |r: &ImageRef| Some(r.version.unwrap_or(2));
        let me = node("me", Some(("deb", None)), NextBoot::Stateless, None);
        let alone = |others: Vec<Node>| {
            let mut all = vec![me.clone()];
            all.extend(others);
            !can_gain(&all, "me", "deb", 2, resolve)
        };
        assert!(alone(vec![]), "the only node set stateless");
        assert!(alone(vec![node("a", Some(("deb", Some(1))), NextBoot::Stateless, None)]), "another version");
        assert!(alone(vec![node("b", Some(("rocky", None)), NextBoot::Stateless, None)]), "another image");
        assert!(alone(vec![node("c", Some(("deb", None)), NextBoot::Local, None)]), "boots from its disk");
        assert!(alone(vec![node("d", Some(("deb", None)), NextBoot::Reimage, Some(DeliveryChoice::Unicast))]), "forced to unicast");
        assert!(!alone(vec![node("e", Some(("deb", Some(2))), NextBoot::Reimage, None)]), "a re-image of the same version joins the window");
        assert!(!alone(vec![node("f", Some(("deb", None)), NextBoot::Stateless, Some(DeliveryChoice::Multicast))]), "another stateless node of it");
    }
}
