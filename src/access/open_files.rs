//! The process's soft limit on open files, raised so that the connection
//! caps decide how many clients fit.

/// Raises the soft open-files limit to the hard limit, so that the
/// connection caps, not the process's descriptor table (often 1,024 by
/// default), decide how many clients fit. Returns the soft limit in effect.
#[cfg(unix)]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // rlim_t is u64 here but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok(lim.rlim_cur as u64)
}
