//! Keeps part-sized buffers out of malloc's arenas, so RSS tracks the buffer budget.

/// Allocations of at least this many bytes are served by `mmap` and returned
/// to the kernel when freed. glibc's default threshold starts at 128 KiB but
/// climbs to 32 MiB after the first large free, after which 5–64 MiB part
/// buffers are carved from per-thread arenas and retained there; a fixed 1 MiB
/// keeps every part buffer (≥ 5 MiB) and range buffer out of the arenas.
pub const MMAP_THRESHOLD_BYTES: i32 = 1024 * 1024;

/// Applies [`MMAP_THRESHOLD_BYTES`]; call once at start-up. A no-op where the
/// C library is not glibc.
pub fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tunables and takes glibc's own
    // arena lock, so it is sound from any thread; called first thing so the
    // buffers allocated afterwards follow the threshold.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
