//! Other processes as /proc shows them: the state and parent in `/proc/PID/stat` and the
//! command line (with the title a process set) in `/proc/PID/cmdline`.

/// The fields of `/proc/PID/stat` after the command name: `comm` may hold spaces and
/// parentheses, so they start after the last `)`.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The state letter of `pid` (`R`, `S`, `T`, `Z`, ...); None when there is no such process.
pub fn state(pid: i32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The parent of `pid`.
pub fn ppid(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The process group of `pid`.
pub fn pgrp(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Every process id /proc lists now (none when /proc cannot be read).
pub fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
}

/// The processes of group `pgid` that have not exited yet (zombies are not counted).
pub fn group_alive(pgid: i32) -> Vec<i32> {
    pids()
        .filter(|&pid| pgrp(pid) == Some(pgid) && alive(pid))
        .collect()
}

/// Whether `pid` is a process that has not exited yet. A zombie has exited (only its
/// parent's wait is left), and so has a pid that is gone.
pub fn alive(pid: i32) -> bool {
    state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The command line of `pid` as it reads now (a title the process set included), its
/// arguments NUL-separated; empty when there is no such process.
pub fn cmdline(pid: i32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_its_parent_and_command_line() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(matches!(state(me), Some('R' | 'S')));
        assert_eq!(ppid(me), Some(std::os::unix::process::parent_id() as i32));
        assert!(!cmdline(me).is_empty());
        assert!(!alive(i32::MAX));
        assert_eq!(state(i32::MAX), None);
        assert!(cmdline(i32::MAX).is_empty());
        let group = nix::unistd::getpgrp().as_raw();
        assert_eq!(pgrp(me), Some(group));
        assert!(group_alive(group).contains(&me));
        assert_eq!(pgrp(i32::MAX), None);
    }
}
