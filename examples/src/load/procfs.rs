//! Process figures for the load harness: resident memory (`/proc/<pid>/status`), CPU
//! time (`getrusage` for this process, `/proc/<pid>/stat` for another), and the open-file
//! limit. Linux only; elsewhere the figures read as zero.

/// Resident set size (`VmRSS`) of `pid` (this process when `None`), in KiB.
pub fn rss_kib(pid: Option<u32>) -> u64 {
    status_field(pid, "VmRSS:")
}

/// Peak resident set size (`VmHWM`) of `pid` (this process when `None`), in KiB.
pub fn hwm_kib(pid: Option<u32>) -> u64 {
    status_field(pid, "VmHWM:")
}

/// Number of threads of `pid` (this process when `None`).
pub fn threads(pid: Option<u32>) -> u64 {
    status_field(pid, "Threads:")
}

fn status_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

fn status_field(pid: Option<u32>, key: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(status_path(pid, "status")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minute load averages): the
/// machine is shared, so every result records how busy it was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// User + system CPU time of this process, in seconds (`getrusage(RUSAGE_SELF)`,
/// microsecond resolution).
pub fn cpu_seconds_self() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let mut u = sys::RUsage::default();
        // SAFETY: `u` is a properly sized, writable `struct rusage`.
        if unsafe { sys::getrusage(sys::RUSAGE_SELF, &mut u) } == 0 {
            return u.utime.seconds() + u.stime.seconds();
        }
    }
    cpu_seconds_of(std::process::id())
}

/// User + system CPU time of another process (`/proc/<pid>/stat`, clock-tick
/// resolution, usually 10 ms).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at field 3.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime field 15 (1-based) -> indexes 11 and 12 here.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { sys::sysconf(sys::SC_CLK_TCK) };
        if t > 0 {
            return t as f64;
        }
    }
    100.0
}

/// Returns freed heap memory to the kernel (glibc `malloc_trim(0)`); true when glibc
/// released something. Used once, after the idle reading, to tell the memory sessions
/// hold from what the allocator merely kept after the connect phase.
pub fn malloc_trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions.
        return unsafe { sys::malloc_trim(0) } == 1;
    }
    #[allow(unreachable_code)]
    false
}

/// Raises the soft open-file limit to the hard limit; returns `(soft, hard)` after.
/// Each session needs one socket (two when the emulator runs in this process).
pub fn raise_nofile() -> (u64, u64) {
    #[cfg(target_os = "linux")]
    {
        let mut lim = sys::RLimit::default();
        // SAFETY: `lim` is a properly sized, writable `struct rlimit`.
        if unsafe { sys::getrlimit(sys::RLIMIT_NOFILE, &mut lim) } == 0 {
            if lim.cur < lim.max {
                let want = sys::RLimit {
                    cur: lim.max,
                    max: lim.max,
                };
                // SAFETY: `want` is a valid `struct rlimit`.
                if unsafe { sys::setrlimit(sys::RLIMIT_NOFILE, &want) } == 0 {
                    lim = want;
                }
            }
            return (lim.cur, lim.max);
        }
    }
    (0, 0)
}

#[cfg(target_os = "linux")]
mod sys {
    //! The three libc calls we need, declared by hand (the examples crate does not
    //! depend on `libc`). Layouts are the 64-bit Linux ones.
    pub const RLIMIT_NOFILE: i32 = 7;
    pub const RUSAGE_SELF: i32 = 0;
    pub const SC_CLK_TCK: i32 = 2;

    #[repr(C)]
    #[derive(Default)]
    pub struct RLimit {
        pub cur: u64,
        pub max: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    pub struct TimeVal {
        pub sec: i64,
        pub usec: i64,
    }

    impl TimeVal {
        pub fn seconds(&self) -> f64 {
            self.sec as f64 + self.usec as f64 / 1e6
        }
    }

    #[repr(C)]
    #[derive(Default)]
    pub struct RUsage {
        pub utime: TimeVal,
        pub stime: TimeVal,
        pub rest: [i64; 14],
    }

    unsafe extern "C" {
        pub fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
        pub fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
        pub fn getrusage(who: i32, usage: *mut RUsage) -> i32;
        pub fn sysconf(name: i32) -> i64;
        #[cfg(target_env = "gnu")]
        pub fn malloc_trim(pad: usize) -> i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_figures() {
        assert!(rss_kib(None) > 0);
        assert!(hwm_kib(None) >= rss_kib(None) / 2);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds_self() > 0.0);
        assert!(cpu_seconds_of(std::process::id()) >= 0.0);
        let (soft, hard) = raise_nofile();
        assert!(soft <= hard);
    }
}
