//! The open-files limit (RLIMIT_NOFILE, getrlimit(2)/setrlimit(2)): a daemon that holds a
//! socket per check raises its soft limit towards what it needs, never past the hard limit.

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft open-files limit to `want` (at most the hard limit; a higher soft limit is
/// left alone) and returns the soft limit now.
pub fn raise_open_files(want: u64) -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = want.min(hard);
    if target <= soft {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_never_lowered() {
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((0, 0));
        assert_eq!(raise_open_files(0).ok(), Some(soft));
    }
}
