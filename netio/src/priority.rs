//! A thread's place in the CPU scheduler: bulk work yields to the loops that must run on time.
//!
//! A receiver's decode workers and its receive loop share the node's cores, and so do a
//! sender's packet loop and the receivers on a host that runs both (the head-to-head harness,
//! a node that serves its peers, a TCG guest of the VM lab). A decode holds a core for
//! milliseconds; the loop that drains the socket, or paces the sender, needs a core for
//! microseconds but at once: every late wake of a paced sender that outlasts its bucket is link
//! time lost for good, and a receive loop that waits lets the socket overflow. Lowering the bulk
//! work needs no privilege and can starve only the bulk work (so it goes down a few steps, not
//! to the bottom: see the receiver's `DECODE_NICE`), where raising the loops would need
//! `CAP_SYS_NICE` and starved the receivers sharing the host (session 24: the sender's packet
//! loop raised 10 steps, the harness's 1 Gbit/s row had a run of 14.36 s).
#![allow(unsafe_code)]

use std::io;

/// Lowers the calling thread `steps` nice values below where it is (Linux keeps a nice value
/// per thread), at most to 19. Relative, so a process started under `nice` keeps its place
/// against the rest of the machine.
pub fn lower_thread_priority(steps: libc::c_int) -> io::Result<()> {
    let now = thread_nice()?;
    // SAFETY: setpriority reads its three integer arguments only.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, this_thread(), (now + steps).min(19)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's nice value.
fn thread_nice() -> io::Result<libc::c_int> {
    // getpriority may return -1 as a nice value: errno tells an error apart.
    // SAFETY: __errno_location returns this thread's errno, valid for the thread's life;
    // getpriority reads its two integer arguments only.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, this_thread())
    };
    if nice == -1 && io::Error::last_os_error().raw_os_error() != Some(0) {
        return Err(io::Error::last_os_error());
    }
    Ok(nice)
}

/// The calling thread's id, as the priority calls take it.
fn this_thread() -> libc::id_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as libc::id_t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice() -> libc::c_int {
        thread_nice().expect("a thread may read its own nice value")
    }

    #[test]
    fn lowers_only_the_calling_thread() {
        let parent = nice();
        let (before, after) = std::thread::spawn(|| {
            let before = nice();
            lower_thread_priority(5).expect("lowering needs no privilege");
            (before, nice())
        })
        .join()
        .expect("thread");
        assert_eq!(after, (before + 5).min(19));
        assert_eq!(nice(), parent, "the other threads keep theirs");
    }
}
