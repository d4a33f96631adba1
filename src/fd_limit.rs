//! The open-file limit. Every connection is a descriptor (two through the built-in proxy:
//! one to the app), and so is every database file: run out, and new people cannot connect
//! and the database cannot be opened. `serve` raises the soft limit to the hard one at
//! start, and the connection cap is kept within what the limit allows, with a reserve.

/// Descriptors kept for all but client connections: the listeners, the log, the key file,
/// the runtime's own, outgoing mail.
pub const RESERVE: usize = 64;

/// Descriptors one database connection may hold (SQLite: the database, its WAL and the
/// shared-memory index; PostgreSQL: one socket).
pub const PER_DATABASE_CONNECTION: usize = 3;

/// The soft and hard open-file limits, where the system has them.
pub fn current() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            // rlim_t is u64 on Linux, not everywhere.
            #[allow(clippy::unnecessary_cast)]
            return Some((limit.rlim_cur as u64, limit.rlim_max as u64));
        }
    }
    None
}

/// Raises the soft limit to the hard one; returns the soft limit before and after.
pub fn raise() -> std::io::Result<(u64, u64)> {
    #[cfg(unix)]
    {
        let (soft, hard) = current().ok_or_else(std::io::Error::last_os_error)?;
        if soft >= hard {
            return Ok((soft, soft));
        }
        let raised = libc::rlimit {
            rlim_cur: hard as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((soft, hard))
    }
    #[cfg(not(unix))]
    Err(std::io::Error::other("no open-file limit here"))
}

/// The most connections `limit` descriptors carry once the reserve and the database have
/// theirs; `per_connection` is 2 when the built-in proxy may open one to the app.
pub fn connections_within(limit: u64, database_connections: usize, per_connection: usize) -> usize {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let kept = RESERVE + database_connections * PER_DATABASE_CONNECTION;
    (limit.saturating_sub(kept) / per_connection.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_room_for_the_database_and_the_rest() {
        // 1,024 with 8 database connections: 1024 - 64 - 24 = 936.
        assert_eq!(connections_within(1024, 8, 1), 936);
        assert_eq!(connections_within(1024, 8, 2), 468);
        assert_eq!(connections_within(100, 8, 2), 6);
        assert_eq!(connections_within(10, 8, 2), 1, "never none");
        assert!(connections_within(u64::MAX, 8, 2) > 1_000_000);
    }
}
