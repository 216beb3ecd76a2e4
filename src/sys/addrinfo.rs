//! getaddrinfo(3) with its error code kept. std's `ToSocketAddrs` turns a failure into the C
//! library's text, and musl's texts are not glibc's: an unresolvable name said "Try again"
//! or "Name does not resolve" where iputils ping (and every glibc tool an operator knows) says
//! "Temporary failure in name resolution" or "Name or service not known".

use std::ffi::CString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// musl and glibc both number it -9; the libc crate leaves it out for musl.
const EAI_ADDRFAMILY: libc::c_int = -9;

/// A getaddrinfo failure: its `EAI_*` code. Displayed with glibc's gai_strerror text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupError(pub libc::c_int);

impl LookupError {
    /// The name does not exist or has no address (NXDOMAIN, NODATA): asking again soon would
    /// get the same answer. Every other failure (EAI_AGAIN for a timeout or SERVFAIL, EAI_FAIL
    /// for a refusing server, EAI_SYSTEM, EAI_MEMORY) says nothing about the name.
    pub fn is_permanent(self) -> bool {
        matches!(self.0, libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY)
    }

    /// glibc's gai_strerror text for the code (glibc 2.36, `gai_strerror-strs.h`).
    pub fn glibc_text(self) -> &'static str {
        match self.0 {
            libc::EAI_NONAME => "Name or service not known",
            libc::EAI_AGAIN => "Temporary failure in name resolution",
            libc::EAI_FAIL => "Non-recoverable failure in name resolution",
            libc::EAI_NODATA => "No address associated with hostname",
            EAI_ADDRFAMILY => "Address family for hostname not supported",
            libc::EAI_FAMILY => "ai_family not supported",
            libc::EAI_BADFLAGS => "Bad value for ai_flags",
            libc::EAI_SOCKTYPE => "ai_socktype not supported",
            libc::EAI_SERVICE => "Servname not supported for ai_socktype",
            libc::EAI_MEMORY => "Memory allocation failure",
            libc::EAI_SYSTEM => "System error",
            libc::EAI_OVERFLOW => "Result too large for supplied buffer",
            _ => "Unknown error",
        }
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.glibc_text())
    }
}

impl std::error::Error for LookupError {}

/// The addresses `name` resolves to (any family), in getaddrinfo's order, each once. Blocks
/// for as long as the resolver takes (resolv.conf's timeout and attempts).
pub fn lookup(name: &str) -> Result<Vec<IpAddr>, LookupError> {
    // A name with a NUL byte cannot name a host.
    let c_name = CString::new(name).map_err(|_| LookupError(libc::EAI_NONAME))?;
    // One entry per address, not one per socket type.
    let hints = libc::addrinfo {
        ai_flags: 0,
        ai_family: libc::AF_UNSPEC,
        ai_socktype: libc::SOCK_DGRAM,
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_addr: std::ptr::null_mut(),
        ai_canonname: std::ptr::null_mut(),
        ai_next: std::ptr::null_mut(),
    };
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // c_name is NUL-terminated and hints outlives the call; on success `list` is ours to free.
    let rc = unsafe { libc::getaddrinfo(c_name.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if rc != 0 {
        return Err(LookupError(rc));
    }
    let mut addrs = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // `node` is an entry of the list getaddrinfo returned, not freed until below.
        let ai = unsafe { &*node };
        if let Some(a) = entry_address(ai) {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        node = ai.ai_next;
    }
    // `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(addrs)
}

/// The address of one getaddrinfo entry (None for another family or a short sockaddr).
fn entry_address(ai: &libc::addrinfo) -> Option<IpAddr> {
    let len = ai.ai_addrlen as usize;
    if ai.ai_addr.is_null() {
        return None;
    }
    match ai.ai_family {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // ai_addr points at a sockaddr_in (the family and length say so).
            let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // ai_addr points at a sockaddr_in6 (the family and length say so).
            let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn musl_error_codes_read_as_glibc_says_them() {
        // musl: "Name does not resolve", "Try again", "Non-recoverable failure in name
        // resolution", "Name has no usable address"...; ping prints glibc's.
        for (code, text) in [
            (libc::EAI_NONAME, "Name or service not known"),
            (libc::EAI_AGAIN, "Temporary failure in name resolution"),
            (libc::EAI_FAIL, "Non-recoverable failure in name resolution"),
            (libc::EAI_NODATA, "No address associated with hostname"),
            (-9, "Address family for hostname not supported"),
            (libc::EAI_FAMILY, "ai_family not supported"),
            (libc::EAI_MEMORY, "Memory allocation failure"),
            (libc::EAI_SYSTEM, "System error"),
            (12345, "Unknown error"),
        ] {
            assert_eq!(LookupError(code).to_string(), text, "code {code}");
        }
    }

    #[test]
    fn only_a_missing_name_is_a_permanent_failure() {
        for code in [libc::EAI_NONAME, libc::EAI_NODATA, -9] {
            assert!(LookupError(code).is_permanent(), "code {code}");
        }
        for code in [
            libc::EAI_AGAIN,
            libc::EAI_FAIL,
            libc::EAI_SYSTEM,
            libc::EAI_MEMORY,
        ] {
            assert!(!LookupError(code).is_permanent(), "code {code}");
        }
    }

    #[test]
    fn literals_resolve_without_dns() {
        assert_eq!(
            lookup("198.51.100.7"),
            Ok(vec![IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))])
        );
        assert_eq!(
            lookup("2001:db8::7"),
            Ok(vec!["2001:db8::7".parse::<IpAddr>().unwrap()])
        );
        assert_eq!(lookup("a\0b"), Err(LookupError(libc::EAI_NONAME)));
    }
}
