//! What versions have in common and what each costs: `diff A B` and the space each version holds
//! alone (the bytes `remove` + `gc` would give back).
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Version};

/// One metadata field that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaChange {
    /// Field name, as in the JSON metadata.
    pub field: String,
    /// Value in A (JSON).
    pub a: serde_json::Value,
    /// Value in B (JSON).
    pub b: serde_json::Value,
}

/// A package present in both at different versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    /// Package name.
    pub name: String,
    /// Its version in A.
    pub a: String,
    /// Its version in B.
    pub b: String,
}

/// `diff A B`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// `NAME@V` of A.
    pub a: String,
    /// `NAME@V` of B.
    pub b: String,
    /// Metadata fields that differ (packages and sizes aside).
    pub meta: Vec<MetaChange>,
    /// Packages in B only (`name version`).
    pub packages_added: Vec<String>,
    /// Packages in A only.
    pub packages_removed: Vec<String>,
    /// Packages in both at different versions.
    pub packages_changed: Vec<PackageChange>,
    /// A's artifact size.
    pub a_bytes: u64,
    /// B's artifact size.
    pub b_bytes: u64,
    /// Bytes of distinct chunks both hold.
    pub shared_bytes: u64,
}

/// The space one version takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// `NAME@V`.
    pub version: String,
    /// Its artifact size.
    pub artifact_bytes: u64,
    /// Bytes of its distinct chunks.
    pub chunk_bytes: u64,
    /// Bytes of chunks no other version holds: what removing it would free.
    pub exclusive_bytes: u64,
}

impl Store {
    /// Compares two versions.
    pub fn diff(&self, a: (&str, u32), b: (&str, u32)) -> Result<Diff, StoreError> {
        let (va, vb) = (self.get(a.0, a.1)?, self.get(b.0, b.1)?);
        Ok(diff(&va, &vb))
    }

    /// The space every version takes, by name then number.
    pub fn usage(&self) -> Result<Vec<Usage>, StoreError> {
        Ok(usage(&self.versions(None)?))
    }
}

/// Compares two versions' metadata, packages and chunks.
pub fn diff(a: &Version, b: &Version) -> Diff {
    let fields = |v: &Version| -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(&v.meta).expect("metadata serialises") {
            serde_json::Value::Object(m) => m.into_iter().filter(|(k, _)| k != "packages" && k != "size_bytes").collect(),
            _ => BTreeMap::new(),
        }
    };
    let (fa, fb) = (fields(a), fields(b));
    let meta = fa
        .iter()
        .filter(|(k, v)| fb.get(*k) != Some(*v))
        .map(|(k, v)| MetaChange { field: k.clone(), a: v.clone(), b: fb.get(k).cloned().unwrap_or(serde_json::Value::Null) })
        .collect();
    let packages = |v: &Version| -> BTreeMap<String, String> {
        v.meta.packages.iter().map(|p| p.split_once(' ').map_or((p.clone(), String::new()), |(n, ver)| (n.to_string(), ver.to_string()))).collect()
    };
    let (pa, pb) = (packages(a), packages(b));
    let line = |n: &String, v: &String| if v.is_empty() { n.clone() } else { format!("{n} {v}") };
    let packages_added = pb.iter().filter(|(n, _)| !pa.contains_key(*n)).map(|(n, v)| line(n, v)).collect();
    let packages_removed = pa.iter().filter(|(n, _)| !pb.contains_key(*n)).map(|(n, v)| line(n, v)).collect();
    let packages_changed = pa
        .iter()
        .filter_map(|(n, va)| pb.get(n).filter(|vb| *vb != va).map(|vb| PackageChange { name: n.clone(), a: va.clone(), b: vb.clone() }))
        .collect();
    let in_a: HashSet<&str> = a.chunks.iter().map(|c| c.id.as_str()).collect();
    let mut counted = HashSet::new();
    let shared_bytes =
        b.chunks.iter().filter(|c| in_a.contains(c.id.as_str()) && counted.insert(c.id.as_str())).map(|c| u64::from(c.len)).sum();
    Diff {
        a: a.label(),
        b: b.label(),
        meta,
        packages_added,
        packages_removed,
        packages_changed,
        a_bytes: a.artifact_bytes,
        b_bytes: b.artifact_bytes,
        shared_bytes,
    }
}

/// The space each of `versions` takes, alone and in all.
pub fn usage(versions: &[Version]) -> Vec<Usage> {
    let mut holders: HashMap<&str, usize> = HashMap::new();
    let distinct: Vec<HashMap<&str, u32>> = versions.iter().map(|v| v.chunks.iter().map(|c| (c.id.as_str(), c.len)).collect()).collect();
    for d in &distinct {
        for id in d.keys() {
            *holders.entry(id).or_default() += 1;
        }
    }
    versions
        .iter()
        .zip(&distinct)
        .map(|(v, d)| Usage {
            version: v.label(),
            artifact_bytes: v.artifact_bytes,
            chunk_bytes: d.values().map(|&l| u64::from(l)).sum(),
            exclusive_bytes: d.iter().filter(|(id, _)| holders[*id] == 1).map(|(_, &l)| u64::from(l)).sum(),
        })
        .collect()
}
