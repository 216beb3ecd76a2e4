//! PIKE frames (DESIGN.md §3): HELLO and GOODBYE, carried in raw Ethernet frames with
//! EtherType 0x88B5 to the group MAC 03:50:49:4b:45:00, authenticated with HMAC-SHA256.
//!
//! Payload layout (big-endian), after the 14-byte Ethernet header:
//!
//! ```text
//!  0 magic "PIKE"       4 version (2)   5 type   6 flags (u16)   8 cluster-id (u32)
//! 12 node-id (u32)     16 incarnation (u32)    20 seq (u64)
//! 28 ack-incarnation (u32)                     32 ack-seq (u64)
//! 40 hello-ms (u32)    44 dead-ms (u32)        48 path-id (u8)
//! 49 key-id (u16)      51 n-vc (u8)
//! 52 n-vc × { vcid u16, role u8, flags u8, priority u8, fail-count u8, config-digest u32,
//!              more-flags u8, penalty u8 }
//!    HMAC-SHA256 (32 bytes) over dst MAC, src MAC, EtherType and every payload byte before it
//! ```
//!
//! Version 2 replaced version 1's persisted boot counter with the *incarnation*: a random
//! number drawn at every daemon start, with seq counting from 1 within it. The ack fields
//! echo the newest (incarnation, seq) heard from the peer, which is what proves a frame from
//! a new incarnation fresh (see `applets::pikemon::peer`).
//!
//! `Packet` is a zero-copy view (smoltcp style), `Repr` the parsed value; `sign` / `verify`
//! compute and check the HMAC, the check in constant time (`hmac`'s `verify_slice`).

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// IEEE 802 local experimental EtherType 1.
pub const ETHERTYPE: u16 = 0x88B5;
/// Destination group MAC of every PIKE frame.
pub const GROUP_MAC: [u8; 6] = [0x03, 0x50, 0x49, 0x4b, 0x45, 0x00];
/// `PIKE`.
pub const MAGIC: [u8; 4] = *b"PIKE";
/// The only version this code speaks.
pub const VERSION: u8 = 2;
/// Length of the HMAC-SHA256 tag.
pub const HMAC_LEN: usize = 32;
/// Bytes per virtual-cluster entry, as this release writes them.
pub const VC_LEN: usize = 12;
/// The shortest entry read (the first version-2 release wrote 11 bytes: no penalty).
pub const VC_LEN_MIN: usize = 11;
/// The longest entry read (a later release may append fields; they are skipped).
pub const VC_LEN_MAX: usize = 64;
/// Most virtual-cluster entries a frame may carry.
pub const MAX_VCS: usize = 32;
/// Length of the Ethernet header in front of the payload.
pub const ETH_HEADER_LEN: usize = 14;

mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const TYPE: usize = 5;
    pub const FLAGS: Range<usize> = 6..8;
    pub const CLUSTER_ID: Range<usize> = 8..12;
    pub const NODE_ID: Range<usize> = 12..16;
    pub const INCARNATION: Range<usize> = 16..20;
    pub const SEQ: Range<usize> = 20..28;
    pub const ACK_INCARNATION: Range<usize> = 28..32;
    pub const ACK_SEQ: Range<usize> = 32..40;
    pub const HELLO_MS: Range<usize> = 40..44;
    pub const DEAD_MS: Range<usize> = 44..48;
    pub const PATH_ID: usize = 48;
    pub const KEY_ID: Range<usize> = 49..51;
    pub const N_VC: usize = 51;
    pub const VCS: usize = 52;
}

/// Length of the fixed header before the virtual-cluster entries.
pub const HEADER_LEN: usize = field::VCS;

/// Why bytes are not a PIKE frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header, its entries and its HMAC say.
    Truncated,
    /// Not `PIKE`.
    BadMagic,
    /// A version this code does not speak.
    BadVersion(u8),
    /// More virtual-cluster entries than `MAX_VCS`.
    TooManyVcs(u8),
    /// The Ethernet header does not carry EtherType 0x88B5.
    NotPike,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "truncated frame"),
            Error::BadMagic => write!(f, "bad magic"),
            Error::BadVersion(v) => write!(f, "unsupported version {v}"),
            Error::TooManyVcs(n) => write!(f, "{n} virtual clusters (at most {MAX_VCS})"),
            Error::NotPike => write!(f, "not a PIKE EtherType"),
        }
    }
}

impl std::error::Error for Error {}

/// The message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Hello,
    Goodbye,
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Hello,
            2 => MessageType::Goodbye,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Hello => 1,
            MessageType::Goodbye => 2,
            MessageType::Unknown(v) => v,
        }
    }
}

/// The role a node announces for one virtual cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Just started, not decided yet.
    Init,
    Backup,
    Master,
    Unknown(u8),
}

impl From<u8> for Role {
    fn from(v: u8) -> Self {
        match v {
            0 => Role::Init,
            1 => Role::Backup,
            2 => Role::Master,
            other => Role::Unknown(other),
        }
    }
}

impl From<Role> for u8 {
    fn from(r: Role) -> u8 {
        match r {
            Role::Init => 0,
            Role::Backup => 1,
            Role::Master => 2,
            Role::Unknown(v) => v,
        }
    }
}

/// Per-virtual-cluster flag bits.
pub mod vc_flags {
    /// Every ping group and controlled link of the sender is up.
    pub const HEALTH_UP: u8 = 0x01;
    /// The sender is this cluster's `primary node`.
    pub const PREFERRED: u8 = 0x02;
    /// An administrator told the sender `take`.
    pub const ADMIN_TAKE: u8 = 0x04;
    /// An administrator told the sender `drop`.
    pub const ADMIN_DROP: u8 = 0x08;
    /// `preemptive yes`.
    pub const PREEMPTIVE: u8 = 0x10;
    /// The sender is Master and hands the role over now.
    pub const RELEASING: u8 = 0x20;
    /// The sender is Master with its addresses up: an old master releasing the role keeps
    /// its own until it sees this (make-before-break hand-over).
    pub const ACTIVE: u8 = 0x40;
    /// The sender's Master was resumed from the status file by a restarted daemon and not
    /// yet compared with a live peer: a peer that took over meanwhile keeps the role.
    pub const RESUMED: u8 = 0x80;
}

/// One virtual cluster's state as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcState {
    pub vcid: u16,
    pub role: Role,
    pub flags: u8,
    pub priority: u8,
    pub fail_count: u8,
    /// A digest of the virtual cluster's cluster-relevant configuration (its addresses,
    /// virtual MACs, timers, cluster-id, preemption): a mismatch is a config drift alarm.
    pub digest: u32,
    /// `vc_more_flags` bits.
    pub more: u8,
    /// The weights of the sender's failing weighted witnesses (`track-* ... weight N`),
    /// summed (saturating): between two healthy nodes the lower penalty holds the role.
    pub penalty: u8,
}

/// Bits of the second flags byte of a virtual-cluster entry.
pub mod vc_more_flags {
    /// The sender's administrator put it in maintenance: it stays Backup (across restarts)
    /// until told otherwise.
    pub const MAINTENANCE: u8 = 0x01;
    /// The sender drives conntrackd (`conntrack { ... }`): a failback to it waits for
    /// `SYNCED`.
    pub const STATE_SYNC: u8 = 0x02;
    /// The sender is Master and has sent a conntrackd bulk update to the receiver's current
    /// incarnation.
    pub const BULK_SENT: u8 = 0x04;
    /// The sender's external cache has settled after the master's bulk update.
    pub const SYNCED: u8 = 0x08;
}

impl VcState {
    /// Whether `flag` (a `vc_flags` bit) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A zero-copy view of a PIKE payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; getters may then panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after `check_len`.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header, the announced entries and the HMAC fit in the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let n = b[field::N_VC];
        if usize::from(n) > MAX_VCS {
            return Err(Error::TooManyVcs(n));
        }
        if b.len() < self.total_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Header + entries + HMAC, as announced by n-vc.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.vc_count()) * self.entry_len() + HMAC_LEN
    }

    /// Bytes per entry in this frame: `VC_LEN`, or, when the frame is exactly as long as
    /// entries of another length (`VC_LEN_MIN..=VC_LEN_MAX`) make it, that length. A peer
    /// of an earlier or a later release stays readable during a rolling upgrade: fields it
    /// did not write read as 0, fields this release does not know are skipped. The HMAC
    /// still covers every byte.
    pub fn entry_len(&self) -> usize {
        let n = usize::from(self.vc_count());
        let body = self
            .buffer
            .as_ref()
            .len()
            .checked_sub(HEADER_LEN + HMAC_LEN);
        match body {
            Some(body) if n > 0 && body != n * VC_LEN && body % n == 0 => {
                let e = body / n;
                if (VC_LEN_MIN..=VC_LEN_MAX).contains(&e) {
                    e
                } else {
                    VC_LEN
                }
            }
            _ => VC_LEN,
        }
    }

    pub fn magic(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[0], b[1], b[2], b[3]]
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }
    pub fn msg_type(&self) -> MessageType {
        self.buffer.as_ref()[field::TYPE].into()
    }
    pub fn flags(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS])
    }
    pub fn cluster_id(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::CLUSTER_ID])
    }
    pub fn node_id(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::NODE_ID])
    }
    pub fn incarnation(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::INCARNATION])
    }
    pub fn seq(&self) -> u64 {
        be64(&self.buffer.as_ref()[field::SEQ])
    }
    pub fn ack_incarnation(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK_INCARNATION])
    }
    pub fn ack_seq(&self) -> u64 {
        be64(&self.buffer.as_ref()[field::ACK_SEQ])
    }
    pub fn hello_ms(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::HELLO_MS])
    }
    pub fn dead_ms(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::DEAD_MS])
    }
    pub fn path_id(&self) -> u8 {
        self.buffer.as_ref()[field::PATH_ID]
    }
    pub fn key_id(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::KEY_ID])
    }
    pub fn vc_count(&self) -> u8 {
        self.buffer.as_ref()[field::N_VC]
    }

    /// Entry `i` (< `vc_count`).
    pub fn vc(&self, i: usize) -> VcState {
        let e = self.entry_len();
        let at = field::VCS + i * e;
        // A shorter entry of an earlier release: the missing fields are 0.
        let mut b = [0u8; VC_LEN];
        let have = e.min(VC_LEN);
        b[..have].copy_from_slice(&self.buffer.as_ref()[at..at + have]);
        VcState {
            vcid: be16(&b[0..2]),
            role: b[2].into(),
            flags: b[3],
            priority: b[4],
            fail_count: b[5],
            digest: be32(&b[6..10]),
            more: b[10],
            penalty: b[11],
        }
    }

    /// The bytes the HMAC covers (after the Ethernet header).
    pub fn signed_part(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len() - HMAC_LEN]
    }

    /// The HMAC tag.
    pub fn hmac(&self) -> &[u8] {
        let end = self.total_len();
        &self.buffer.as_ref()[end - HMAC_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    pub fn set_header(&mut self) {
        let b = self.bytes();
        b[field::MAGIC].copy_from_slice(&MAGIC);
        b[field::VERSION] = VERSION;
    }
    pub fn set_msg_type(&mut self, t: MessageType) {
        self.bytes()[field::TYPE] = t.into();
    }
    pub fn set_flags(&mut self, v: u16) {
        self.bytes()[field::FLAGS].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_cluster_id(&mut self, v: u32) {
        self.bytes()[field::CLUSTER_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_node_id(&mut self, v: u32) {
        self.bytes()[field::NODE_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_incarnation(&mut self, v: u32) {
        self.bytes()[field::INCARNATION].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_seq(&mut self, v: u64) {
        self.bytes()[field::SEQ].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ack(&mut self, incarnation: u32, seq: u64) {
        self.bytes()[field::ACK_INCARNATION].copy_from_slice(&incarnation.to_be_bytes());
        self.bytes()[field::ACK_SEQ].copy_from_slice(&seq.to_be_bytes());
    }
    pub fn set_timers(&mut self, hello_ms: u32, dead_ms: u32) {
        self.bytes()[field::HELLO_MS].copy_from_slice(&hello_ms.to_be_bytes());
        self.bytes()[field::DEAD_MS].copy_from_slice(&dead_ms.to_be_bytes());
    }
    /// The path id differs per heart-beat path; set it before `sign`.
    pub fn set_path_id(&mut self, v: u8) {
        self.bytes()[field::PATH_ID] = v;
    }
    pub fn set_key_id(&mut self, v: u16) {
        self.bytes()[field::KEY_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_vc_count(&mut self, n: u8) {
        self.bytes()[field::N_VC] = n;
    }
    pub fn set_vc(&mut self, i: usize, vc: &VcState) {
        let at = field::VCS + i * VC_LEN;
        let b = &mut self.bytes()[at..at + VC_LEN];
        b[0..2].copy_from_slice(&vc.vcid.to_be_bytes());
        b[2] = vc.role.into();
        b[3] = vc.flags;
        b[4] = vc.priority;
        b[5] = vc.fail_count;
        b[6..10].copy_from_slice(&vc.digest.to_be_bytes());
        b[10] = vc.more;
        b[11] = vc.penalty;
    }
    /// Computes the HMAC over `dst`, `src`, the EtherType and the payload, and stores it.
    pub fn sign(&mut self, key: &[u8], dst: &[u8; 6], src: &[u8; 6]) {
        let tag = tag(key, dst, src, self.signed_part());
        let end = self.total_len();
        self.bytes()[end - HMAC_LEN..end].copy_from_slice(&tag);
    }
}

fn mac_over(key: &[u8], dst: &[u8; 6], src: &[u8; 6], payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (RFC 2104), so this cannot fail.
    let mut m = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    m.update(dst);
    m.update(src);
    m.update(&ETHERTYPE.to_be_bytes());
    m.update(payload);
    m
}

fn tag(key: &[u8], dst: &[u8; 6], src: &[u8; 6], payload: &[u8]) -> [u8; HMAC_LEN] {
    let out = mac_over(key, dst, src, payload).finalize().into_bytes();
    let mut t = [0u8; HMAC_LEN];
    t.copy_from_slice(&out);
    t
}

/// Checks a frame's HMAC with `key`, in constant time.
pub fn verify<T: AsRef<[u8]>>(
    packet: &Packet<T>,
    key: &[u8],
    dst: &[u8; 6],
    src: &[u8; 6],
) -> bool {
    mac_over(key, dst, src, packet.signed_part())
        .verify_slice(packet.hmac())
        .is_ok()
}

/// A parsed PIKE message (without its HMAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: MessageType,
    pub flags: u16,
    pub cluster_id: u32,
    pub node_id: u32,
    pub incarnation: u32,
    pub seq: u64,
    pub ack_incarnation: u32,
    pub ack_seq: u64,
    pub hello_ms: u32,
    pub dead_ms: u32,
    pub path_id: u8,
    pub key_id: u16,
    pub vcs: Vec<VcState>,
}

impl Repr {
    /// Parses a checked view; magic and version must match.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        p.check_len()?;
        if p.magic() != MAGIC {
            return Err(Error::BadMagic);
        }
        if p.version() != VERSION {
            return Err(Error::BadVersion(p.version()));
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            flags: p.flags(),
            cluster_id: p.cluster_id(),
            node_id: p.node_id(),
            incarnation: p.incarnation(),
            seq: p.seq(),
            ack_incarnation: p.ack_incarnation(),
            ack_seq: p.ack_seq(),
            hello_ms: p.hello_ms(),
            dead_ms: p.dead_ms(),
            path_id: p.path_id(),
            key_id: p.key_id(),
            vcs: (0..usize::from(p.vc_count())).map(|i| p.vc(i)).collect(),
        })
    }

    /// Bytes `emit` writes (HMAC included).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.vcs.len().min(MAX_VCS) * VC_LEN + HMAC_LEN
    }

    /// Writes everything but the HMAC (`Packet::sign` adds it). At most `MAX_VCS` entries.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_header();
        p.set_msg_type(self.msg_type);
        p.set_flags(self.flags);
        p.set_cluster_id(self.cluster_id);
        p.set_node_id(self.node_id);
        p.set_incarnation(self.incarnation);
        p.set_seq(self.seq);
        p.set_ack(self.ack_incarnation, self.ack_seq);
        p.set_timers(self.hello_ms, self.dead_ms);
        p.set_path_id(self.path_id);
        p.set_key_id(self.key_id);
        let n = self.vcs.len().min(MAX_VCS);
        p.set_vc_count(n as u8);
        for (i, vc) in self.vcs.iter().take(n).enumerate() {
            p.set_vc(i, vc);
        }
    }
}

/// Builds a whole signed Ethernet frame: header (to `GROUP_MAC` from `src`) + payload.
pub fn build_frame(repr: &Repr, key: &[u8], src: &[u8; 6]) -> Vec<u8> {
    let mut frame = vec![0u8; ETH_HEADER_LEN + repr.buffer_len()];
    frame[0..6].copy_from_slice(&GROUP_MAC);
    frame[6..12].copy_from_slice(src);
    frame[12..14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    let mut p = Packet::new_unchecked(&mut frame[ETH_HEADER_LEN..]);
    repr.emit(&mut p);
    p.sign(key, &GROUP_MAC, src);
    frame
}

/// An Ethernet frame carrying PIKE, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub payload: &'a [u8],
}

/// Splits an Ethernet frame into destination, source and PIKE payload.
pub fn split_frame(frame: &[u8]) -> Result<Frame<'_>, Error> {
    if frame.len() < ETH_HEADER_LEN {
        return Err(Error::Truncated);
    }
    if frame[12..14] != ETHERTYPE.to_be_bytes() {
        return Err(Error::NotPike);
    }
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&frame[0..6]);
    src.copy_from_slice(&frame[6..12]);
    Ok(Frame {
        dst,
        src,
        payload: &frame[ETH_HEADER_LEN..],
    })
}

#[cfg(test)]
#[path = "pike_tests.rs"]
mod tests;
