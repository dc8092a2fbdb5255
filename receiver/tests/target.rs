//! Blocks written through a [`Target`] with write-behind land exactly, whatever the window,
//! the order, rewrites, concurrent writers, or the filesystem (tmpfs included).

use fec::{BlockId, ObjectLayout};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use receiver::target::WriteBehind;
use receiver::Target;
use std::path::Path;

const T: u16 = 4096;
const K: u32 = 16;
const BLOCK_BYTES: u64 = T as u64 * K as u64;
/// 40 blocks, the last one short.
const OBJECT_BYTES: u64 = 40 * BLOCK_BYTES - 1000;

fn object(seed: u64) -> (ObjectLayout, Vec<u8>) {
    let mut data = vec![0; OBJECT_BYTES as usize];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    (ObjectLayout::new(OBJECT_BYTES, T, K).unwrap(), data)
}

fn block_of<'a>(layout: &ObjectLayout, data: &'a [u8], block: BlockId) -> &'a [u8] {
    &data[layout.block_offset(block) as usize..][..layout.block_len(block)]
}

/// Writes every block in a shuffled order, some of them first with wrong bytes that are then
/// rewritten, and checks the file and `read_block` against the object.
fn write_shuffled_with_rewrites(dir: &Path, window_bytes: u64, seed: u64) {
    let (layout, data) = object(seed);
    let path = dir.join(format!("copy-{window_bytes}"));
    let target = Target::open_with(&path, layout, WriteBehind { window_bytes }).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<BlockId> = layout.blocks().collect();
    order.shuffle(&mut rng);
    let (rewritten, rest) = order.split_at(order.len() / 4);
    for &block in rewritten {
        let wrong = vec![0xA5; layout.block_len(block)];
        target.write_block(block, &wrong).unwrap();
    }
    for &block in rest.iter().chain(rewritten) {
        target.write_block(block, block_of(&layout, &data, block)).unwrap();
    }
    target.sync().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data, "window {window_bytes}");
    let mut buf = Vec::new();
    for block in layout.blocks() {
        target.read_block(block, &mut buf).unwrap();
        assert_eq!(buf, block_of(&layout, &data, block), "window {window_bytes}, block {block}");
    }
}

#[test]
fn windows_from_none_to_several_blocks_write_exact_bytes_out_of_order_with_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    // 0: every write waits for itself; one block; a window that ends mid-block; the default.
    for window_bytes in [0, BLOCK_BYTES, 3 * BLOCK_BYTES + BLOCK_BYTES / 2, WriteBehind::default().window_bytes] {
        write_shuffled_with_rewrites(dir.path(), window_bytes, window_bytes ^ 7);
    }
}

/// tmpfs has no writeback: `sync_file_range` succeeds there without doing anything and the
/// pages stay cached (they are the file), so this checks the paced path leaves nothing out on a
/// filesystem where it is a no-op.
#[test]
fn tmpfs_output_writes_exact_bytes() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    write_shuffled_with_rewrites(dir.path(), BLOCK_BYTES, 11);
}

#[test]
fn concurrent_writers_share_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, data) = object(3);
    let path = dir.path().join("copy");
    let target = Target::open_with(&path, layout, WriteBehind { window_bytes: 2 * BLOCK_BYTES }).unwrap();
    const WRITERS: u32 = 4;
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (target, layout, data) = (&target, &layout, &data);
            scope.spawn(move || {
                for block in layout.blocks().rev().filter(|b| b % WRITERS == writer) {
                    target.write_block(block, block_of(layout, data, block)).unwrap();
                }
            });
        }
    });
    target.sync().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}
