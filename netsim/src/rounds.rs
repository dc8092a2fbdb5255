//! Rounds of work over chunks of state, on threads that live as long as the simulation.
//!
//! fountain's nodes advance one tick at a time, and a tick is a few milliseconds of work, so
//! threads are started once rather than per tick. The machine is shared: a worker the scheduler
//! has not run yet must not hold up a round, so the caller takes chunks too, and a round waits
//! only for chunks someone already took.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Chunks of state that rounds of work go over.
pub struct Rounds<T, A> {
    chunks: Vec<Mutex<T>>,
    /// The round (high 32 bits) and the next chunk to take (low 32 bits) in one word, so a
    /// worker that wakes late for a round can never take a chunk of the next one.
    next: AtomicU64,
    /// Chunks of the current round done.
    finished: AtomicUsize,
    state: Mutex<State<A>>,
    wake: Condvar,
}

struct State<A> {
    round: u64,
    arg: A,
    quit: bool,
}

impl<T: Send, A: Copy + Send> Rounds<T, A> {
    /// Rounds over `chunks`; `arg` is what the first round's argument replaces.
    pub fn new(chunks: Vec<T>, arg: A) -> Self {
        assert!(chunks.len() < 1 << 32, "chunk index must fit the low half of `next`");
        Self {
            chunks: chunks.into_iter().map(Mutex::new).collect(),
            next: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            state: Mutex::new(State { round: 0, arg, quit: false }),
            wake: Condvar::new(),
        }
    }

    /// How many chunks there are.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Chunk `index`, between rounds.
    pub fn chunk(&self, index: usize) -> MutexGuard<'_, T> {
        self.chunks[index].lock().expect("a worker panicked")
    }

    /// Every chunk, in order, once the workers are gone.
    pub fn into_chunks(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().map(|chunk| chunk.into_inner().expect("a worker panicked"))
    }

    /// Runs `work(chunk, arg)` once on every chunk, here and on the workers; returns when all
    /// are done.
    pub fn round(&self, arg: A, work: &impl Fn(&mut T, A)) {
        let round = {
            let mut state = self.state.lock().expect("a worker panicked");
            state.round += 1;
            state.arg = arg;
            self.finished.store(0, Ordering::Relaxed);
            self.next.store(state.round << 32, Ordering::Release);
            state.round
        };
        self.wake.notify_all();
        self.take(round, arg, work);
        while self.finished.load(Ordering::Acquire) < self.chunks.len() {
            std::thread::yield_now();
        }
    }

    /// A worker: takes chunks of each round until [`Rounds::quit`].
    pub fn serve(&self, work: &impl Fn(&mut T, A)) {
        let mut seen = 0;
        loop {
            let (round, arg) = {
                let mut state = self.state.lock().expect("the caller panicked");
                while state.round == seen && !state.quit {
                    state = self.wake.wait(state).expect("the caller panicked");
                }
                if state.quit {
                    return;
                }
                (state.round, state.arg)
            };
            seen = round;
            self.take(round, arg, work);
        }
    }

    /// Ends every worker's [`Rounds::serve`].
    pub fn quit(&self) {
        self.state.lock().expect("a worker panicked").quit = true;
        self.wake.notify_all();
    }

    /// Takes chunks of `round` while there are any left.
    fn take(&self, round: u64, arg: A, work: &impl Fn(&mut T, A)) {
        let mut next = self.next.load(Ordering::Acquire);
        loop {
            let index = (next & 0xffff_ffff) as usize;
            if next >> 32 != round || index >= self.chunks.len() {
                return;
            }
            match self.next.compare_exchange_weak(next, next + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // Counted even if `work` panics, so the round ends and the caller sees the
                    // poisoned chunk instead of waiting forever.
                    let finished = CountOnDrop(&self.finished);
                    work(&mut self.chunks[index].lock().expect("a worker panicked"), arg);
                    drop(finished);
                    next = self.next.load(Ordering::Acquire);
                }
                Err(now) => next = now,
            }
        }
    }
}

/// Counts one finished chunk when dropped.
struct CountOnDrop<'a>(&'a AtomicUsize);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// Calls [`Rounds::quit`] when dropped, so workers end even if the caller panics (a scope
/// would otherwise wait for them forever).
pub struct QuitOnDrop<'a, T: Send, A: Copy + Send>(pub &'a Rounds<T, A>);

impl<T: Send, A: Copy + Send> Drop for QuitOnDrop<'_, T, A> {
    fn drop(&mut self) {
        self.0.quit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_worker_fails_the_round_instead_of_hanging_it() {
        let rounds = Rounds::new(vec![0u64; 4], 0u64);
        let work = |chunk: &mut u64, _: u64| {
            *chunk += 1;
            assert!(*chunk < 2, "second round panics");
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|scope| {
                scope.spawn(|| rounds.serve(&work));
                let _quit = QuitOnDrop(&rounds);
                rounds.round(1, &work);
                rounds.round(2, &work);
                rounds.round(3, &work);
            })
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn every_chunk_runs_once_per_round_whatever_the_workers() {
        for workers in [0, 1, 3] {
            let rounds = Rounds::new(vec![Vec::new(); 10], 0u64);
            let work = |chunk: &mut Vec<u64>, arg: u64| chunk.push(arg);
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| rounds.serve(&work));
                }
                let _quit = QuitOnDrop(&rounds);
                for arg in 1..=50 {
                    rounds.round(arg, &work);
                }
            });
            for chunk in rounds.into_chunks() {
                assert_eq!(chunk, (1..=50).collect::<Vec<_>>(), "{workers} workers");
            }
        }
    }
}
