//! Packet and message formats: bytes ⇄ values, no I/O. One file per protocol, smoltcp-style
//! (`Packet` view over a buffer + parsed `Repr` with `parse` / `buffer_len` / `emit`).
pub mod arp;
pub mod dns;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipvs;
pub mod ldap;
pub mod ndisc;
pub mod pike;
pub mod radius;

/// Test helpers shared by the format tests: fixed bytes written as hex, and a small
/// deterministic generator for the "garbage never panics" tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Bytes from hex text; whitespace (line breaks, spaces between bytes) is ignored.
    pub fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(
            digits.len().is_multiple_of(2),
            "odd number of hex digits: {s}"
        );
        digits
            .chunks(2)
            .map(|p| {
                let text = std::str::from_utf8(p).unwrap_or("");
                u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("not hex: {text:?}"))
            })
            .collect()
    }

    /// Marsaglia's xorshift32: the same sequence on every run.
    pub struct Xorshift32(pub u32);

    impl Xorshift32 {
        pub fn next_u32(&mut self) -> u32 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.0 = x;
            x
        }
    }
}
