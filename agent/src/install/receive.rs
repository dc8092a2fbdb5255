//! Getting the image: register for the node's transfer session, then receive it the way the control
//! plane says, with the engine `fountain recv` and `fountain fetch` run ([`receiver::download`]):
//! multicast (join the session from its ticket, fetch over HTTP whatever it ends without) or unicast
//! (HTTP ranges alone). Either way only verified blocks are written, the journal next to the image
//! lets a restarted agent resume, and progress goes to the control plane.
use std::path::{Path, PathBuf};

use control::auth::Secret;
use control::image::ImageVersion;
use control::transfer::{Delivery, SessionId};
use receiver::download::{Downloaded, HttpImage, journal_path};
use receiver::fetch::FetchConfig;

use super::InstallError;
use crate::error::AgentError;
use super::checkpoint::{self, Checkpoint};
use super::place::{self, IMAGE_FILE, Place};
use crate::report::Reporter;
use crate::run::say;
use crate::delivery::{DeliveryError, route};

/// The image on hand.
#[derive(Debug)]
pub struct Received {
    /// The artifact file.
    pub artifact: PathBuf,
    /// Where it was put.
    pub place: Place,
    /// The session the node reports against.
    pub session: SessionId,
    /// How it came.
    pub delivery: Delivery,
    /// What the download did.
    pub downloaded: Downloaded,
}

/// Registers for the transfer of `image` and receives it into RAM or under `target`.
pub fn receive(reporter: &Reporter, node: &str, token: &Secret, image: &ImageVersion, target: &Path) -> Result<Received, AgentError> {
    let registered = reporter.register()?;
    let session = registered.session;
    // The manifest first: it gives the size that decides where the image goes, and it is what every
    // HTTP block is checked against.
    let http = HttpImage::resolve(reporter.server(), node, token.expose(), &image.image, Some(image.version), FetchConfig::default()).map_err(DeliveryError::from)?;
    let layout = *http.object.manifest.layout();
    let place = where_to(layout.object_size(), target)?;
    let dir = place.dir(target);
    std::fs::create_dir_all(&dir).map_err(|e| InstallError::io(format!("creating {}", dir.display()), e))?;
    let artifact = dir.join(IMAGE_FILE);
    let journal = journal_path(&artifact);
    let route = route(reporter, &registered)?;
    let delivery = route.delivery();
    say(&format!(
        "receiving {}@{} ({} MiB, {} blocks) by {} in session {session} into {}",
        image.image,
        image.version,
        layout.object_size() >> 20,
        layout.block_count(),
        delivery,
        if place == Place::Ram { "RAM" } else { "a scratch folder on the target" }
    ));
    // RAM does not outlive a reset; a copy on the target should, as far as it got.
    let checkpoint = (place == Place::Target).then(|| Checkpoint::start(vec![artifact.clone(), journal.clone()], checkpoint::EVERY));
    let downloaded = route.download(reporter, http, &artifact, &journal)?;
    drop(checkpoint);
    Ok(Received { artifact, place, session, delivery, downloaded })
}

/// RAM or the target, from what `/proc/meminfo` and `df` say now.
fn where_to(image_bytes: u64, target: &Path) -> Result<Place, InstallError> {
    let journal_on_target = journal_path(&Place::Target.dir(target).join(IMAGE_FILE)).exists();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let df = std::process::Command::new("df").arg("-Pk").arg(target).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    Ok(place::choose(image_bytes, place::mem_available(&meminfo), place::df_available(&df), journal_on_target)?)
}
