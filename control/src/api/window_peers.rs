//! Who could join a window besides the node registering: the window closes as soon as all of them
//! (not busy elsewhere) have registered, instead of waiting out its whole length (30 s in the VM lab)
//! for company that is already there or that nobody set to come. An operator re-imaging two nodes
//! waits for their two agents; a node nobody else is set to share its version with starts at once.
use crate::node::{ImageRef, NextBoot, Node};
use crate::transfer::DeliveryChoice;

/// The nodes other than `me` that could join a window for `version` of `image`: set to re-image or
/// boot stateless, with that version (`resolve` gives the version an image reference stands for now,
/// `None` when it stands for none), and not forced to unicast (such a node never joins a window).
pub fn company(nodes: &[Node], me: &str, image: &str, version: u32, resolve: impl Fn(&ImageRef) -> Option<u32>) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| {
            n.name != me
                && matches!(n.next_boot, NextBoot::Reimage | NextBoot::Stateless)
                && n.delivery != Some(DeliveryChoice::Unicast)
                && n.image.as_ref().is_some_and(|r| r.name == image && resolve(r) == Some(version))
        })
        .map(|n| n.name.clone())
        .collect()
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
            company(&all, "me", "deb", 2, resolve).is_empty()
        };
        assert!(alone(vec![]), "the only node set stateless");
        assert!(alone(vec![node("a", Some(("deb", Some(1))), NextBoot::Stateless, None)]), "another version");
        assert!(alone(vec![node("b", Some(("rocky", None)), NextBoot::Stateless, None)]), "another image");
        assert!(alone(vec![node("c", Some(("deb", None)), NextBoot::Local, None)]), "boots from its disk");
        assert!(alone(vec![node("d", Some(("deb", None)), NextBoot::Reimage, Some(DeliveryChoice::Unicast))]), "forced to unicast");
        assert!(!alone(vec![node("e", Some(("deb", Some(2))), NextBoot::Reimage, None)]), "a re-image of the same version joins the window");
        assert!(!alone(vec![node("f", Some(("deb", None)), NextBoot::Stateless, Some(DeliveryChoice::Multicast))]), "another stateless node of it");
        let all = vec![me.clone(), node("g", Some(("deb", None)), NextBoot::Reimage, None), node("h", Some(("deb", Some(1))), NextBoot::Reimage, None)];
        assert_eq!(company(&all, "me", "deb", 2, resolve), ["g"], "only the nodes that could share the version, never me");
    }
}
