//! Process title as `ps` and /proc/PID/cmdline show it (setproctitle(3) on Linux): the
//! original argv area, whose bounds /proc/self/stat gives, is overwritten in place; the
//! command name (comm) is set with PR_SET_NAME.

use std::io;

/// Sets the title; a title longer than the original argument area is cut to fit.
pub fn set(title: &str) -> io::Result<()> {
    let (start, end) = arg_area()?;
    let len = end.saturating_sub(start);
    if len < 2 {
        return Err(io::Error::other("argument area too small"));
    }
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // The area [arg_start, arg_end) belongs to this process (its own argv strings, on its stack,
    // writable); we write only inside it and leave a NUL at the end.
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
    let comm = title.split([':', ' ']).next().unwrap_or(title);
    let _ = set_comm(comm);
    Ok(())
}

/// Sets the 15-character command name (`ps -o comm`, /proc/PID/comm).
pub fn set_comm(name: &str) -> io::Result<()> {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a buffer we own.
    let r = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// arg_start and arg_end: fields 48 and 49 of /proc/self/stat (proc(5)).
fn arg_area() -> io::Result<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name in field 2 may hold spaces; fields after its closing ')' are plain.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("bad /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is fields[N - 3].
    let get = |n: usize| -> io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("bad /proc/self/stat"))
    };
    Ok((get(48)?, get(49)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn arg_area_is_sane() {
        let (s, e) = super::arg_area().unwrap();
        assert!(e > s);
    }
}
