//! Where the sender's symbols come from: blocks read from the object, checked against the
//! manifest, encoded ahead of the packet loop on worker threads.
//!
//! Building a block's RaptorQ encoder takes milliseconds; done inline it stalls the paced packet
//! loop, and a pacer rightly never makes up a stall. So the driver tells the source which blocks
//! come next ([`BlockSource::prefetch`]) and workers read, verify and encode them meanwhile. Only
//! where repair is expected: a first pass with no receiver needing anything sends source symbols
//! alone, and encoding every block for nothing cost an encode per block (a core's worth of the
//! sender at ~1 GB/s).

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender};
use fec::{BlockEncoder, BlockId, Manifest};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

/// Why a symbol could not be produced.
#[derive(Debug, Error)]
pub enum SourceError {
    /// Reading the object failed.
    #[error("reading block {block}: {source}")]
    Read {
        /// The block.
        block: BlockId,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The object no longer matches its manifest: it changed after it was hashed.
    #[error("block {0} no longer matches the manifest: the source changed during the transfer")]
    Changed(BlockId),
}

/// Reads, verifies and encodes one block.
fn load(file: &File, manifest: &Manifest, block: BlockId) -> Result<BlockEncoder, SourceError> {
    let layout = manifest.layout();
    let mut buf = BytesMut::zeroed(layout.block_len(block));
    file.read_exact_at(&mut buf, layout.block_offset(block)).map_err(|source| SourceError::Read { block, source })?;
    if Some(&blake3::hash(&buf)) != manifest.block_hash(block) {
        return Err(SourceError::Changed(block));
    }
    Ok(BlockEncoder::new(layout, block, buf.freeze()))
}

/// A block a worker read and verified.
struct Loaded {
    block: BlockId,
    encoder: Result<Arc<BlockEncoder>, SourceError>,
    /// The worker prepares its repair next.
    repairing: bool,
}

/// Work for the source's threads.
enum Job {
    /// Read and verify a block, and prepare its repair if asked.
    Load { block: BlockId, repair: bool },
    /// Prepare the repair of a block already loaded (its encoder is shared).
    Prepare(Arc<BlockEncoder>),
}

/// A worker: runs jobs until the source is dropped.
fn work(file: &File, manifest: &Manifest, jobs: &Receiver<Job>, loaded: &Sender<Loaded>, stopped: &AtomicBool) {
    for job in jobs {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        match job {
            // Handed over as soon as it is verified, its repair prepared after: the packet loop
            // sends a block's source symbols long before any of its repair, and waiting for the
            // encode stalled the first burst (40 ms at the start of a session, two cores).
            Job::Load { block, repair } => {
                let encoder = load(file, manifest, block).map(Arc::new);
                let prepare = encoder.as_ref().ok().filter(|_| repair).cloned();
                if loaded.send(Loaded { block, encoder, repairing: prepare.is_some() }).is_err() {
                    return;
                }
                if let Some(encoder) = prepare {
                    encoder.prepare_repair();
                }
            }
            Job::Prepare(encoder) => encoder.prepare_repair(),
        }
    }
}

/// Blocks of one object with their encoders, the most recent ones cached.
pub struct BlockSource {
    file: Arc<File>,
    manifest: Arc<Manifest>,
    capacity: usize,
    encoders: HashMap<BlockId, Arc<BlockEncoder>>,
    order: VecDeque<BlockId>,
    /// Blocks being loaded, and whether their repair is wanted.
    requested: HashMap<BlockId, bool>,
    jobs: Option<Sender<Job>>,
    loaded: Receiver<Loaded>,
    /// Set when the source is dropped: the workers skip what is still queued.
    stopped: Arc<AtomicBool>,
}

impl BlockSource {
    /// A source over `file`, described by `manifest`, caching up to `capacity` encoders and
    /// encoding ahead on `workers` threads (0: everything inline).
    pub fn new(file: File, manifest: Manifest, capacity: usize, workers: usize) -> Self {
        let (file, manifest) = (Arc::new(file), Arc::new(manifest));
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
        let (loaded_tx, loaded) = crossbeam_channel::unbounded::<Loaded>();
        let stopped = Arc::new(AtomicBool::new(false));
        for _ in 0..workers {
            let (file, manifest, job_rx, loaded_tx, stopped) = (file.clone(), manifest.clone(), job_rx.clone(), loaded_tx.clone(), stopped.clone());
            std::thread::spawn(move || work(&file, &manifest, &job_rx, &loaded_tx, &stopped));
        }
        let jobs = (workers > 0).then_some(job_tx);
        Self {
            file,
            manifest,
            capacity: capacity.max(1),
            encoders: HashMap::new(),
            order: VecDeque::new(),
            requested: HashMap::new(),
            jobs,
            loaded,
            stopped,
        }
    }

    /// Asks the workers to have `block` ready soon, with its repair encoder too if `repair`
    /// (what is ready or asked for already is not asked again).
    pub fn prefetch(&mut self, block: BlockId, repair: bool) {
        let Some(jobs) = &self.jobs else { return };
        if !self.manifest.layout().contains(block) {
            return;
        }
        if let Some(encoder) = self.encoders.get(&block) {
            if repair && !encoder.repair_ready() {
                jobs.send(Job::Prepare(encoder.clone())).expect("workers run while the source lives");
            }
            return;
        }
        match self.requested.get_mut(&block) {
            Some(wanted) => *wanted |= repair,
            None => {
                self.requested.insert(block, repair);
                jobs.send(Job::Load { block, repair }).expect("workers run while the source lives");
            }
        }
    }

    /// Symbol `esi` of `block`.
    pub fn symbol(&mut self, block: BlockId, esi: u32) -> Result<Bytes, SourceError> {
        self.collect()?;
        let encoder = match self.encoders.get(&block) {
            Some(encoder) => encoder.clone(),
            None => {
                let encoder = Arc::new(load(&self.file, &self.manifest, block)?);
                self.insert(block, encoder.clone());
                encoder
            }
        };
        Ok(encoder.symbols(esi, 1).pop().expect("one symbol below the ESI limit"))
    }

    /// Takes in what the workers finished.
    fn collect(&mut self) -> Result<(), SourceError> {
        while let Ok(Loaded { block, encoder, repairing }) = self.loaded.try_recv() {
            let repair = self.requested.remove(&block).unwrap_or(false);
            let encoder = encoder?;
            // Asked for with its repair after it was sent off without.
            if repair
                && !repairing
                && !encoder.repair_ready()
                && let Some(jobs) = &self.jobs
            {
                jobs.send(Job::Prepare(encoder.clone())).expect("workers run while the source lives");
            }
            if !self.encoders.contains_key(&block) {
                self.insert(block, encoder);
            }
        }
        Ok(())
    }

    fn insert(&mut self, block: BlockId, encoder: Arc<BlockEncoder>) {
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.encoders.remove(&old);
        }
        self.encoders.insert(block, encoder);
        self.order.push_back(block);
    }
}

/// The workers are not joined: one may be amid an encode (milliseconds), and a sender whose
/// session is over must not wait for repair nobody will ask for (it held `fountain send`'s exit
/// back 20 ms). They skip what is queued and end on their own.
impl Drop for BlockSource {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}
