//! `fountain demo`: one sender and N receivers on loopback, with seeded injected loss.

use super::recv::{ReceiveOptions, journal_path, receive};
use super::send::{SendOptions, prepare};
use super::units::parse_size;
use anyhow::Context;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use receiver::udp::LossInjector;
use std::io::Write;
use std::process::ExitCode;

/// `fountain demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Object size (k/M/G suffixes, binary).
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    size: u64,
    /// Receivers.
    #[arg(long, default_value_t = 3)]
    receivers: usize,
    /// Injected loss at each receiver (fraction of datagrams).
    #[arg(long, default_value_t = 0.05)]
    loss: f64,
    /// Seed for the object's bytes and the injected loss.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON line with the figures at the end.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    send: SendOptions,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.send.iface.is_loopback(), "the demo runs on loopback only");
    anyhow::ensure!(args.receivers >= 1, "the demo needs at least one receiver");
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let source = dir.path().join("object");
    write_random(&source, args.size, args.seed)?;
    let expected = blake3::hash(&std::fs::read(&source)?);
    let prepared = prepare(&source, &args.send, args.receivers)?;
    let ticket = prepared.ticket.clone();
    println!(
        "demo: {} bytes, {} blocks, 1 sender -> {} receivers on {} at {} loss each",
        args.size,
        ticket.manifest.layout().block_count(),
        args.receivers,
        ticket.group,
        args.loss
    );
    let (sent, received) = std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..args.receivers)
            .map(|i| {
                let out = dir.path().join(format!("copy-{i}"));
                let ticket = &ticket;
                let loss = (args.loss > 0.0).then(|| LossInjector::new(args.loss, args.seed.wrapping_add(i as u64 + 1)));
                let iface = args.send.iface;
                scope.spawn(move || {
                    let label = format!("receiver {i}");
                    let options = ReceiveOptions { iface, loss, receiver_id: None, label, show_progress: false, sender_timeout: None, fallback: None };
                    let summary = receive(ticket, &out, &journal_path(&out), options)?.summary;
                    anyhow::Ok((out, summary))
                })
            })
            .collect();
        let sent = prepared.run(false);
        let received: Vec<_> = receivers.into_iter().map(|r| r.join().expect("receiver thread panicked")).collect();
        (sent, received)
    });
    let sent = sent?;
    sent.print();
    let mut verified = 0;
    for result in received {
        let (out, summary) = result?;
        summary.print();
        let ok = blake3::hash(&std::fs::read(&out)?) == expected;
        verified += usize::from(ok);
        println!("  {}: {}", summary.role, if ok { "byte-identical (blake3 matches)" } else { "MISMATCH" });
    }
    let layout = ticket.manifest.layout();
    let blocks = layout.block_count().max(1);
    println!(
        "goodput {:.1} MB/s; repair {:.1} symbols per block ({:.2}% of source); {verified}/{} copies verified",
        sent.goodput_mbps(),
        sent.repair_symbols as f64 / f64::from(blocks),
        100.0 * sent.repair_symbols as f64 / (args.size as f64 / f64::from(layout.symbol_size())).max(1.0),
        args.receivers
    );
    if args.json {
        println!(
            "{{\"bench\":\"demo\",\"bytes\":{},\"receivers\":{},\"loss\":{},\"seconds\":{:.3},\"goodput_mbps\":{:.1},\"repair_symbols\":{},\"verified\":{verified}}}",
            args.size,
            args.receivers,
            args.loss,
            sent.elapsed.as_secs_f64(),
            sent.goodput_mbps(),
            sent.repair_symbols
        );
    }
    Ok(if verified == args.receivers { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Writes `size` seeded random bytes to `path`.
fn write_random(path: &std::path::Path, size: u64, seed: u64) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rng.fill_bytes(&mut chunk[..n]);
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

