//! Unpredictable bytes from the kernel (getrandom(2)): PIKE incarnations, protocol ids.

use std::io;

/// Fills `buf` from the kernel's generator (blocks only before the pool is first seeded).
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // getrandom writes at most `rest.len()` bytes into the live slice it is given.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// A random `u32`.
pub fn u32() -> io::Result<u32> {
    let mut b = [0u8; 4];
    fill(&mut b)?;
    Ok(u32::from_ne_bytes(b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let a: Vec<u32> = (0..4).map(|_| super::u32().unwrap()).collect();
        assert!(a.windows(2).any(|w| w[0] != w[1]), "{a:?}");
    }
}
