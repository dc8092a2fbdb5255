//! The appliance's data directory for a storm: one published image, the image servers, and the
//! stateless nodes, written straight into the store (as the control plane's own benchmarks do)
//! before `fountain serve` opens it.
use std::path::{Path, PathBuf};

use anyhow::Context;
use control::auth::Auth;
use control::node::{BootMode, ImageRef, NewNode, NextBoot, NodeConfig};
use control::stateless::{NewServer, StatelessServer};
use control::store::Store;
use control::store::images::VersionFiles;
use fec::{Manifest, ObjectLayout};

/// Image name every node runs.
pub const IMAGE: &str = "storm";
/// Symbol size and block length of the image: 64 KiB blocks.
const SYMBOL_BYTES: u16 = 1024;
const BLOCK_SYMBOLS: u32 = 64;

/// A populated data directory.
#[derive(Debug)]
pub struct Appliance {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Node names and tokens, in order.
    pub nodes: Vec<(String, String)>,
}

impl Appliance {
    /// Publishes `artifact` (already at `<data_dir>/images/storm/1/root.img`) as storm@1, registers
    /// `servers` as healthy image servers and adds `nodes` stateless nodes running storm.
    pub fn populate(data_dir: &Path, servers: &[String], nodes: usize) -> anyhow::Result<Self> {
        let dir = data_dir.join("images").join(IMAGE).join("1");
        let artifact = dir.join("root.img");
        let len = std::fs::metadata(&artifact).with_context(|| format!("{}", artifact.display()))?.len();
        let layout = ObjectLayout::new(len, SYMBOL_BYTES, BLOCK_SYMBOLS)?;
        let manifest = Manifest::hash_object(layout, std::io::BufReader::new(std::fs::File::open(&artifact)?))?;
        let encoded = manifest.encode();
        std::fs::write(dir.join("root.manifest"), &encoded)?;
        let store = Store::open(data_dir)?;
        let files = VersionFiles {
            artifact: format!("{IMAGE}/1/root.img"),
            manifest: format!("{IMAGE}/1/root.manifest"),
            artifact_bytes: len,
            manifest_blake3: blake3::hash(&encoded).to_hex().to_string(),
        };
        store.publish(IMAGE, &files, true)?;
        for url in servers {
            store.add_server(&NewServer { url: url.clone(), weight: 1, healthy: Some(true) }, true)?;
        }
        let auth = Auth::load_or_create(data_dir)?;
        let mut names = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let name = format!("n{i:04}");
            let node = NewNode {
                name: name.clone(),
                macs: vec![format!("52:54:00:77:{:02x}:{:02x}", i >> 8, i & 0xff).parse()?],
                groups: vec![],
                image: Some(ImageRef { name: IMAGE.into(), version: None }),
                layout: None,
                boot_mode: BootMode::Stateless,
                next_boot: Some(NextBoot::Stateless),
                config: NodeConfig::default(),
            };
            store.insert_node(&node.into_node().map_err(anyhow::Error::msg)?)?;
            let token = auth.node_token(&name, store.token_generation(&name)?).expose().to_string();
            names.push((name, token));
        }
        Ok(Appliance { data_dir: data_dir.to_path_buf(), nodes: names })
    }

    /// Forgets every node's server, so the next storm chooses afresh, and takes each node's current
    /// token (a stateless download spends the one it was given), as a node's fresh boot script would
    /// (the control plane is stopped).
    pub fn reset(&mut self) -> anyhow::Result<()> {
        let store = Store::open(&self.data_dir)?;
        let auth = Auth::load_or_create(&self.data_dir)?;
        for (name, token) in &mut self.nodes {
            store.set_stateless_server(name, None)?;
            *token = auth.node_token(name, store.token_generation(name)?).expose().to_string();
        }
        Ok(())
    }

    /// The image servers with the nodes each was chosen for.
    pub fn servers(&self) -> anyhow::Result<Vec<StatelessServer>> {
        Ok(Store::open(&self.data_dir)?.servers()?)
    }
}
