//! Keeps glibc's allocator from holding memory ferry no longer uses (Linux with glibc only).
//!
//! Indexing a fetched pack takes about 35 MB of heap with 20,000 apps; once freed, glibc keeps it
//! (fragmented), and reading the environment's blobs then maps most of the pack on top of it:
//! `malloc_trim` after the fetch hands the free pages back, so the process's peak is the
//! indexing, not the sum of both. The threads that read blobs would each get an arena of their
//! own (about 10 MB more at the peak); one arena is enough for two or four threads that spend
//! their time inflating.

/// Called once, before any thread starts.
pub(super) fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointer and only sets a glibc tunable.
    #[allow(unsafe_code, reason = "glibc's mallopt has no safe wrapper")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

pub(super) fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it walks glibc's own arenas under their locks.
    #[allow(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
    unsafe {
        libc::malloc_trim(0);
    }
}
