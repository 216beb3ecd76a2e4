//! Whether the config file changed since it was last looked at (autoreload, callback): pure,
//! the daemon hands in what it read. A version of the file is its mtime; its content is
//! compared by a fingerprint, so a touched file is no change. Each version is judged once,
//! also one that cannot be read: that one is reported (the reload fails and says why) and
//! then left alone until the file changes again. Judged again every second, an unreadable
//! file (bad UTF-8, a directory, no permission) was reloaded, logged and its callback run
//! once a second for as long as it stayed.

use std::time::SystemTime;

/// What was seen of one version of the file: its mtime, and a fingerprint of its text when
/// it could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub mtime: SystemTime,
    pub fingerprint: Option<u64>,
}

/// A cheap fingerprint of the config text (FNV-1a: enough to tell "changed" from "touched").
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The version of the config file last judged.
#[derive(Debug, Clone, Default)]
pub struct ConfigWatch {
    seen: Option<Version>,
}

impl ConfigWatch {
    /// Starts from the version the running config was read from (None: not known).
    pub fn new(seen: Option<Version>) -> ConfigWatch {
        ConfigWatch { seen }
    }

    /// Whether a look is needed: the file's mtime (None: it cannot be stat'ed, e.g. deleted,
    /// which is no change) differs from the version last judged.
    pub fn is_new(&self, mtime: Option<SystemTime>) -> bool {
        mtime.is_some_and(|m| self.seen.is_none_or(|s| s.mtime != m))
    }

    /// Judges a new version (after `is_new` said so): true when its content differs from the
    /// last version's, or when it cannot be read, or could not be before. The version is
    /// remembered either way, so it is never judged twice.
    pub fn judge(&mut self, now: Version) -> bool {
        let before = self.seen.replace(now);
        match (before.and_then(|b| b.fingerprint), now.fingerprint) {
            (Some(a), Some(b)) => a != b,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn version(secs: u64, text: Option<&str>) -> Version {
        Version {
            mtime: at(secs),
            fingerprint: text.map(fingerprint),
        }
    }

    #[test]
    fn a_touched_file_is_no_change_and_an_edit_is_one() {
        let mut w = ConfigWatch::new(Some(version(1, Some("a"))));
        assert!(!w.is_new(Some(at(1))));
        assert!(w.is_new(Some(at(2))));
        assert!(!w.judge(version(2, Some("a"))));
        assert!(!w.is_new(Some(at(2))));
        assert!(w.is_new(Some(at(3))));
        assert!(w.judge(version(3, Some("b"))));
    }

    #[test]
    fn a_deleted_file_is_no_change() {
        let w = ConfigWatch::new(Some(version(1, Some("a"))));
        assert!(!w.is_new(None));
    }

    #[test]
    fn an_unreadable_version_was_judged_changed_every_second_and_now_once() {
        let mut w = ConfigWatch::new(Some(version(1, Some("a"))));
        assert!(w.is_new(Some(at(2))));
        assert!(
            w.judge(version(2, None)),
            "reported once: the reload says why"
        );
        // The same version looked at again, a second later and after: nothing to do.
        for _ in 0..3 {
            assert!(!w.is_new(Some(at(2))));
        }
        // Fixed (a new version, readable): a change, whatever its text.
        assert!(w.is_new(Some(at(3))));
        assert!(w.judge(version(3, Some("a"))));
        assert!(!w.is_new(Some(at(3))));
    }
}
