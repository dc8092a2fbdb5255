//! Images and their versions in the store. Versions are immutable (a trigger refuses UPDATE, another
//! the DELETE of a version a node resolves to) and their numbers never come again; only an image's
//! default pointer moves.
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Store, StoreError, found, now_unix_s};
use crate::image::{Image, ImageVersion, RollbackDone};
use crate::node::{ImageRef, Node};

/// A version about to be published (the server has checked its files).
#[derive(Debug, Clone)]
pub struct VersionFiles {
    /// Artifact path relative to the images folder.
    pub artifact: String,
    /// Manifest path relative to the images folder.
    pub manifest: String,
    /// Artifact size.
    pub artifact_bytes: u64,
    /// blake3 of the manifest.
    pub manifest_blake3: String,
}

const VERSION_COLUMNS: &str = "image, version, artifact, manifest, artifact_bytes, manifest_blake3, created_unix_s";

fn version_row(r: &Row<'_>) -> rusqlite::Result<ImageVersion> {
    Ok(ImageVersion {
        image: r.get(0)?,
        version: r.get(1)?,
        artifact: r.get(2)?,
        manifest: r.get(3)?,
        artifact_bytes: r.get(4)?,
        manifest_blake3: r.get(5)?,
        created_unix_s: r.get(6)?,
    })
}

const IMAGE_QUERY: &str = "SELECT i.name, i.default_version, (SELECT MAX(version) FROM image_versions v WHERE v.image = i.name) FROM images i";

fn image_row(r: &Row<'_>) -> rusqlite::Result<Image> {
    Ok(Image { name: r.get(0)?, default_version: r.get(1)?, latest_version: r.get(2)? })
}

impl Store {
    /// Creates an image with no versions.
    pub fn create_image(&self, name: &str) -> Result<Image, StoreError> {
        self.write(|tx| {
            let n = tx.execute("INSERT OR IGNORE INTO images (name, created_unix_s) VALUES (?1, ?2)", params![name, now_unix_s()])?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("image {name} already exists")));
            }
            Ok(Image { name: name.to_string(), default_version: None, latest_version: None })
        })
    }

    /// One image.
    pub fn image(&self, name: &str) -> Result<Image, StoreError> {
        self.read(|c| found(c.query_row(&format!("{IMAGE_QUERY} WHERE i.name = ?1"), [name], image_row), || format!("image {name}")))
    }

    /// All images by name.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!("{IMAGE_QUERY} ORDER BY i.name"))?;
            Ok(stmt.query_map([], image_row)?.collect::<Result<_, _>>()?)
        })
    }

    /// Creates `image` if it does not exist and publishes its next version, in one transaction: a
    /// refused version leaves no empty image behind.
    pub fn publish(&self, image: &str, files: &VersionFiles, make_default: bool) -> Result<ImageVersion, StoreError> {
        self.write(|tx| {
            tx.execute("INSERT OR IGNORE INTO images (name, created_unix_s) VALUES (?1, ?2)", params![image, now_unix_s()])?;
            insert_version(tx, image, files, make_default)
        })
    }

    /// Removes an image and all its versions; refused while a node is assigned it. The files under
    /// `images/` stay: they are the operator's.
    pub fn delete_image(&self, image: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let users = users_of_image(tx, image, None)?;
            if !users.is_empty() {
                return Err(StoreError::Conflict(format!("image {image} is assigned to node(s) {}: assign them another first", users.join(", "))));
            }
            tx.execute("DELETE FROM image_versions WHERE image = ?1", [image])?;
            if tx.execute("DELETE FROM images WHERE name = ?1", [image])? == 0 {
                return Err(StoreError::NotFound(format!("image {image}")));
            }
            Ok(())
        })
    }

    /// Removes one version; refused for the default version and for a version a node is assigned.
    pub fn delete_version(&self, image: &str, version: u32) -> Result<(), StoreError> {
        self.write(|tx| {
            let default: Option<u32> =
                found(tx.query_row("SELECT default_version FROM images WHERE name = ?1", [image], |r| r.get(0)), || format!("image {image}"))?;
            if default == Some(version) {
                return Err(StoreError::Conflict(format!("version {version} is the default of image {image}: roll back or publish another first")));
            }
            let users = users_of_image(tx, image, Some((version, default)))?;
            if !users.is_empty() {
                return Err(StoreError::Conflict(format!("{image}@{version} is assigned to node(s) {}", users.join(", "))));
            }
            if tx.execute("DELETE FROM image_versions WHERE image = ?1 AND version = ?2", params![image, version])? == 0 {
                return Err(StoreError::NotFound(format!("version {version} of image {image}")));
            }
            Ok(())
        })
    }

    /// All versions of `image`, oldest first.
    pub fn versions(&self, image: &str) -> Result<Vec<ImageVersion>, StoreError> {
        self.image(image)?;
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {VERSION_COLUMNS} FROM image_versions WHERE image = ?1 ORDER BY version"))?;
            Ok(stmt.query_map([image], version_row)?.collect::<Result<_, _>>()?)
        })
    }

    /// The version `r` means now: the pinned one, or the image's default.
    pub fn resolve(&self, r: &ImageRef) -> Result<ImageVersion, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM image_versions WHERE image = ?1 AND version = COALESCE(?2, (SELECT default_version FROM images WHERE name = ?1))"
            ))?;
            let v = stmt.query_row(params![r.name, r.version], version_row).optional()?;
            v.ok_or_else(|| StoreError::Invalid(format!("image {r} has no such version (or no default version)")))
        })
    }

    /// Points the image's default, or one node, at an earlier version: `to`, or the newest version older
    /// than the current one.
    pub fn rollback(&self, image: &str, to: Option<u32>, node: Option<&str>) -> Result<RollbackDone, StoreError> {
        self.write(|tx| {
            let default: Option<u32> =
                found(tx.query_row("SELECT default_version FROM images WHERE name = ?1", [image], |r| r.get(0)), || format!("image {image}"))?;
            let node_doc: Option<Node> = match node {
                Some(n) => Some(super::nodes::get(tx, n)?),
                None => None,
            };
            let from = match &node_doc {
                Some(n) => n.image.as_ref().filter(|r| r.name == image).and_then(|r| r.version).or(default),
                None => default,
            };
            let target: Option<u32> = match to {
                Some(v) => tx
                    .query_row("SELECT version FROM image_versions WHERE image = ?1 AND version = ?2", params![image, v], |r| r.get(0))
                    .optional()?,
                None => tx.query_row(
                    "SELECT MAX(version) FROM image_versions WHERE image = ?1 AND version < ?2",
                    params![image, from.unwrap_or(0)],
                    |r| r.get(0),
                )?,
            };
            let Some(target) = target else {
                return Err(match to {
                    Some(v) => StoreError::Invalid(format!("image {image} has no version {v}")),
                    None => StoreError::Invalid(format!("image {image} has no version older than {}", from.map_or("none".into(), |v| v.to_string()))),
                });
            };
            match node_doc {
                Some(mut n) => {
                    n.image = Some(ImageRef { name: image.to_string(), version: Some(target) });
                    tx.execute("UPDATE nodes SET doc = ?2, updated_unix_s = ?3 WHERE name = ?1", params![n.name, super::nodes::encode(&n), now_unix_s()])?;
                }
                None => {
                    tx.execute("UPDATE images SET default_version = ?2 WHERE name = ?1", params![image, target])?;
                }
            }
            Ok(RollbackDone { image: image.to_string(), from, to: target, node: node.map(str::to_string) })
        })
    }
}

/// Inserts the next version of the existing `image`.
fn insert_version(tx: &Transaction<'_>, image: &str, files: &VersionFiles, make_default: bool) -> Result<ImageVersion, StoreError> {
    // One past every version ever published, deleted ones included, so a number never means two
    // different artifacts.
    let version: u32 = tx.query_row(
        "SELECT MAX(last_version, COALESCE((SELECT MAX(version) FROM image_versions WHERE image = ?1), 0)) + 1 FROM images WHERE name = ?1",
        [image],
        |r| r.get(0),
    )?;
    tx.execute("UPDATE images SET last_version = ?2 WHERE name = ?1", params![image, version])?;
    let created = now_unix_s();
    tx.execute(
        &format!("INSERT INTO image_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![image, version, files.artifact, files.manifest, files.artifact_bytes, files.manifest_blake3, created],
    )?;
    if make_default {
        tx.execute("UPDATE images SET default_version = ?2 WHERE name = ?1", params![image, version])?;
    }
    Ok(ImageVersion {
        image: image.to_string(),
        version,
        artifact: files.artifact.clone(),
        manifest: files.manifest.clone(),
        artifact_bytes: files.artifact_bytes,
        manifest_blake3: files.manifest_blake3.clone(),
        created_unix_s: created,
    })
}

/// Nodes assigned `image` (any version), or with `Some((version, default))` those that resolve to that
/// version: pinned to it, or following the image's default when it is the default.
fn users_of_image(tx: &Transaction<'_>, image: &str, version: Option<(u32, Option<u32>)>) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT name, json_extract(doc, '$.image.version') FROM nodes WHERE json_extract(doc, '$.image.name') = ?1 ORDER BY name")?;
    let rows = stmt.query_map([image], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<u32>>(1)?)))?;
    let mut users = Vec::new();
    for row in rows {
        let (name, pinned) = row?;
        let uses = match version {
            None => true,
            Some((v, default)) => pinned.or(default) == Some(v),
        };
        if uses {
            users.push(name);
        }
    }
    Ok(users)
}
