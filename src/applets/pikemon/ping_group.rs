//! A ping group as a pure state machine: which echo requests to send when, which replies
//! count, and whether at least `min-up` hosts answer. Per host, `fall` missed replies in a row
//! make it down and `rise` replies in a row make it up again. Hosts start up, so a restarted
//! worker does not give its role away before the first replies; a host name counts as up
//! until the ACR has answered. A name the ACR reports as gone (it does not exist, or has no
//! address that can be a witness) counts one miss per round, so it goes down through `fall`
//! like a host that stopped answering; a temporary resolver failure is never reported, and
//! the last good address keeps being pinged.
//!
//! Each request carries a cookie in its data that no one off the path can predict (a keyed
//! hash of a request counter, the key random per group), and only a reply that echoes it
//! counts: a host on the LAN that forges echo replies from a dead gateway, guessing the
//! identifier and the sequence numbers, no longer keeps the group up.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::config::{Host, PingGroup};

/// One member of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// As configured (a name is shown as such).
    pub host: Host,
    /// The address pinged: configured (IPv4 or IPv6), or resolved by the ACR.
    pub addr: Option<IpAddr>,
    pub up: bool,
    /// The ACR reported that the name has no usable address: each round is a miss.
    gone: bool,
    hits: u32,
    misses: u32,
    /// The requests in flight, oldest first: (seq, sent at, cookie). With a `timeout`
    /// longer than the `interval` several wait at once, each until its own timeout.
    outstanding: VecDeque<(u16, Instant, u64)>,
    pub last_rtt: Option<Duration>,
    pub sent: u64,
    pub received: u64,
}

impl Member {
    /// The share of requests lost, in percent, of those whose fate is known: a request
    /// still within its `timeout` is not lost yet (with a timeout longer than the interval
    /// several wait at once, and each counted as lost in the status).
    pub fn loss_pct(&self) -> u64 {
        let settled = self.sent.saturating_sub(self.outstanding.len() as u64);
        (settled.saturating_sub(self.received) * 100)
            .checked_div(settled)
            .unwrap_or(0)
    }
}

/// Why `addr` cannot be pinged as a witness of the network (None: it can). Holds for a
/// configured address and for one the ACR resolved alike: a loopback, unspecified, multicast
/// or broadcast address, or an IPv6 link-local one, answers from this node or from nobody, and
/// would say nothing about the network (or pin the group up).
pub fn not_a_witness(addr: IpAddr) -> Option<&'static str> {
    let bad = match addr {
        IpAddr::V4(a) => {
            a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback()
        }
        IpAddr::V6(a) => {
            a.is_unspecified()
                || a.is_multicast()
                || a.is_loopback()
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped().is_some()
        }
    };
    bad.then_some(match addr {
        IpAddr::V4(_) => "a unicast address of another host is needed",
        IpAddr::V6(_) => "a global unicast address is needed",
    })
}

/// At most this many requests per host wait for their reply at once (a `timeout` of more
/// than this many `interval`s): a new round gives the oldest up as a miss.
pub const MAX_OUTSTANDING: usize = 64;

/// A request the worker must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub addr: IpAddr,
    pub seq: u16,
    pub cookie: u64,
}

/// The data of an echo request: `pikemon`, a NUL and the cookie.
pub fn payload(cookie: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..7].copy_from_slice(b"pikemon");
    p[8..].copy_from_slice(&cookie.to_be_bytes());
    p
}

impl Echo {
    /// What the request carries, and the reply must echo.
    pub fn data(&self) -> [u8; 16] {
        payload(self.cookie)
    }
}

/// A ping group's state.
#[derive(Debug, Clone)]
pub struct PingGroupState {
    pub config: PingGroup,
    pub members: Vec<Member>,
    next_send: Instant,
    seq: u16,
    /// Requests sent so far, and the key that makes their cookies.
    requests: u64,
    key: RandomState,
}

impl PingGroupState {
    pub fn new(config: PingGroup, now: Instant) -> PingGroupState {
        let members = config
            .hosts
            .iter()
            .map(|h| Member {
                host: h.clone(),
                addr: match h {
                    Host::Addr(a) => Some(*a),
                    Host::Name(_) => None,
                },
                up: true,
                gone: false,
                hits: 0,
                misses: 0,
                outstanding: VecDeque::new(),
                last_rtt: None,
                sent: 0,
                received: 0,
            })
            .collect();
        PingGroupState {
            config,
            members,
            next_send: now,
            seq: 0,
            requests: 0,
            key: RandomState::new(),
        }
    }

    /// At least `min-up` members answer.
    pub fn up(&self) -> bool {
        self.members.iter().filter(|m| m.up).count() >= self.config.min_up as usize
    }

    /// Sets the address of the member configured as host name `name` (from the ACR); `None`:
    /// the name is gone (it does not exist, or no address it has can be a witness).
    pub fn resolved(&mut self, name: &str, addr: Option<Ipv4Addr>) {
        let addr = addr.map(IpAddr::V4);
        for m in &mut self.members {
            if matches!(&m.host, Host::Name(n) if n == name) {
                if m.addr != addr {
                    m.addr = addr;
                    m.outstanding.clear();
                }
                // A name that does not resolve cannot answer: it misses every round from now
                // on, and goes down after `fall` of them as a silent host would.
                m.gone = addr.is_none();
            }
        }
    }

    fn miss(m: &mut Member, fall: u32) {
        m.hits = 0;
        m.misses = m.misses.saturating_add(1);
        if m.misses >= fall {
            m.up = false;
        }
    }

    /// Timeouts and the next round of requests due at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Echo> {
        let (timeout, fall) = (self.config.timeout, self.config.fall);
        for m in &mut self.members {
            while m.outstanding.front().is_some_and(|r| now >= r.1 + timeout) {
                m.outstanding.pop_front();
                Self::miss(m, fall);
            }
        }
        if now < self.next_send {
            return Vec::new();
        }
        self.next_send = now + self.config.interval;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut out = Vec::new();
        for m in &mut self.members {
            let Some(addr) = m.addr else {
                if m.gone {
                    Self::miss(m, fall);
                }
                continue;
            };
            if m.outstanding.len() >= MAX_OUTSTANDING {
                // More requests in flight than kept (a timeout of many intervals): the
                // oldest is given up as a miss.
                m.outstanding.pop_front();
                Self::miss(m, fall);
            }
            self.requests = self.requests.wrapping_add(1);
            let cookie = self.key.hash_one(self.requests);
            m.outstanding.push_back((seq, now, cookie));
            m.sent += 1;
            out.push(Echo { addr, seq, cookie });
        }
        out
    }

    /// An echo reply from `addr` with `seq` and `data`; true when it answers our request
    /// (the data begins with what the request carried: a stack that returns the Ethernet
    /// padding of our short request after it, as some embedded ones do, still answers).
    pub fn on_reply(&mut self, addr: IpAddr, seq: u16, data: &[u8], now: Instant) -> bool {
        let rise = self.config.rise;
        for m in &mut self.members {
            if m.addr != Some(addr) {
                continue;
            }
            let found = m
                .outstanding
                .iter()
                .position(|&(s, _, cookie)| s == seq && data.starts_with(&payload(cookie)));
            if let Some(i) = found {
                if let Some((_, sent, _)) = m.outstanding.remove(i) {
                    m.received += 1;
                    m.last_rtt = Some(now.saturating_duration_since(sent));
                    m.misses = 0;
                    m.hits = m.hits.saturating_add(1);
                    if m.hits >= rise {
                        m.up = true;
                    }
                    return true;
                }
            }
        }
        false
    }

    /// When `on_timer` has something to do.
    pub fn next_deadline(&self) -> Instant {
        self.members
            .iter()
            .filter_map(|m| m.outstanding.front().map(|r| r.1 + self.config.timeout))
            .fold(self.next_send, Instant::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(min_up: u32) -> PingGroup {
        PingGroup {
            name: "GW".into(),
            hosts: vec![
                Host::Addr(Ipv4Addr::new(198, 51, 100, 1).into()),
                Host::Addr(Ipv4Addr::new(198, 51, 100, 2).into()),
            ],
            min_up,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            fall: 3,
            rise: 2,
        }
    }

    #[test]
    fn falls_after_fall_misses_and_rises_after_rise_replies() {
        let t0 = Instant::now();
        let mut g = PingGroupState::new(group(2), t0);
        let gw1 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let s = Duration::from_secs;
        let mut t = t0;
        for round in 0..3 {
            let echoes = g.on_timer(t);
            assert_eq!(echoes.len(), 2);
            // Only .2 answers.
            assert!(g.on_reply(
                echoes[1].addr,
                echoes[1].seq,
                &echoes[1].data(),
                t + Duration::from_millis(3)
            ));
            assert_eq!(g.next_deadline(), t + Duration::from_millis(500));
            g.on_timer(t + Duration::from_millis(500));
            assert_eq!(g.up(), round < 2, "round {round}");
            t += s(1);
        }
        assert!(!g.members[0].up && g.members[1].up);
        // .1 answers again: up after two replies.
        for round in 0..2 {
            let echoes = g.on_timer(t);
            for e in echoes {
                assert!(g.on_reply(e.addr, e.seq, &e.data(), t));
            }
            assert_eq!(g.members[0].up, round == 1);
            t += s(1);
        }
        assert!(g.up());
        assert!(
            !g.on_reply(gw1, 999, &payload(0), t),
            "a stray reply is not ours"
        );
        assert_eq!(g.members[1].last_rtt, Some(Duration::ZERO));
    }

    #[test]
    fn names_count_once_resolved_and_are_down_when_they_do_not_resolve() {
        let t0 = Instant::now();
        let mut cfg = group(2);
        cfg.hosts[1] = Host::Name("gw.example".into());
        let mut g = PingGroupState::new(cfg, t0);
        let echoes = g.on_timer(t0);
        assert_eq!(echoes.len(), 1, "nothing to ping before the ACR answered");
        assert!(g.up(), "optimistic until the ACR reports");
        g.resolved("gw.example", Some(Ipv4Addr::new(198, 51, 100, 9)));
        assert_eq!(g.on_timer(t0 + Duration::from_secs(1)).len(), 2);
        g.resolved("gw.example", None);
        for r in 2..5 {
            g.on_timer(t0 + Duration::from_secs(r));
        }
        assert!(!g.members[1].up);
        assert!(!g.up(), "min-up 2 with one host left");
    }

    #[test]
    fn one_dns_error_took_a_named_host_down_at_once() {
        let t0 = Instant::now();
        let mut cfg = group(2);
        cfg.hosts[1] = Host::Name("gw.example".into());
        let mut g = PingGroupState::new(cfg, t0);
        g.resolved("gw.example", Some(Ipv4Addr::new(198, 51, 100, 9)));
        let mut t = t0;
        let s = Duration::from_secs(1);
        for e in g.on_timer(t) {
            assert!(g.on_reply(e.addr, e.seq, &e.data(), t));
        }
        // The name is gone: down after `fall` (3) rounds, not at once.
        g.resolved("gw.example", None);
        for round in 0..3 {
            assert!(g.members[1].up, "round {round}");
            t += s;
            for e in g.on_timer(t) {
                assert!(g.on_reply(e.addr, e.seq, &e.data(), t));
            }
        }
        assert!(!g.members[1].up);
        assert!(!g.up());
        // It resolves again: up after `rise` (2) replies.
        g.resolved("gw.example", Some(Ipv4Addr::new(198, 51, 100, 9)));
        for round in 0..2 {
            t += s;
            for e in g.on_timer(t) {
                assert!(g.on_reply(e.addr, e.seq, &e.data(), t));
            }
            assert_eq!(g.members[1].up, round == 1);
        }
    }

    #[test]
    fn loopback_and_other_non_witnesses_are_refused_for_literals_and_names_alike() {
        for bad in [
            "127.0.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
        ] {
            assert!(not_a_witness(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for good in ["198.51.100.1", "2001:db8::1"] {
            assert_eq!(not_a_witness(good.parse().unwrap()), None, "{good}");
        }
    }

    #[test]
    fn ipv6_hosts_are_pinged_and_answer_like_ipv4_ones() {
        let t0 = Instant::now();
        let mut cfg = group(2);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        cfg.hosts[1] = Host::Addr(v6);
        let mut g = PingGroupState::new(cfg, t0);
        let echoes = g.on_timer(t0);
        assert_eq!(echoes.iter().map(|e| e.addr).nth(1), Some(v6));
        assert!(g.on_reply(v6, echoes[1].seq, &echoes[1].data(), t0));
        // An IPv4 reply with the same bits of sequence is not the IPv6 host's.
        assert!(!g.on_reply(
            Ipv4Addr::new(198, 51, 100, 9).into(),
            echoes[1].seq,
            &echoes[1].data(),
            t0
        ));
        assert_eq!(g.members[1].received, 1);
    }

    #[test]
    fn a_reply_that_echoed_the_ethernet_padding_after_the_cookie_did_not_count() {
        let t0 = Instant::now();
        let mut g = PingGroupState::new(group(2), t0);
        let echoes = g.on_timer(t0);
        // 14 + 20 + 8 + 16 bytes: two bytes of padding to the 60-byte minimum frame.
        let mut padded = echoes[0].data().to_vec();
        padded.extend_from_slice(&[0, 0]);
        assert!(g.on_reply(echoes[0].addr, echoes[0].seq, &padded, t0));
        // Short of the cookie, or another request's, it is no answer.
        let data = echoes[1].data();
        assert!(!g.on_reply(echoes[1].addr, echoes[1].seq, &data[..15], t0));
        assert!(!g.on_reply(echoes[1].addr, echoes[1].seq, &echoes[0].data(), t0));
        assert!(g.on_reply(echoes[1].addr, echoes[1].seq, &data, t0));
    }

    /// `interval 200ms; timeout 1s`: a reply 500 ms late (two rounds later) still counts,
    /// and a host that stops answering goes down when its requests time out one by one
    /// (the first 1 s after it was sent, then one every round). The request still waiting
    /// at the next round was a miss, and the late reply to it was dropped.
    #[test]
    fn replies_within_a_timeout_longer_than_the_interval_counted_as_missed() {
        let t0 = Instant::now();
        let mut cfg = group(1);
        cfg.hosts.truncate(1);
        cfg.interval = Duration::from_millis(200);
        cfg.timeout = Duration::from_secs(1);
        let mut g = PingGroupState::new(cfg, t0);
        let ms = Duration::from_millis;
        let mut sent = Vec::new();
        for round in 0..20u32 {
            let t = t0 + ms(200) * round;
            // The replies due by now, 500 ms after each request.
            while let Some(&(at, e)) = sent.first() {
                if at + ms(500) > t {
                    break;
                }
                let e: Echo = e;
                assert!(
                    g.on_reply(e.addr, e.seq, &e.data(), at + ms(500)),
                    "round {round}"
                );
                sent.remove(0);
            }
            for e in g.on_timer(t) {
                sent.push((t, e));
            }
            assert!(g.members[0].up, "round {round}");
            assert_eq!(g.members[0].misses, 0, "round {round}");
        }
        assert_eq!(g.members[0].last_rtt, Some(ms(500)));
        // status_counted_requests_still_within_their_timeout_as_lost: the two or three
        // requests waiting for their late reply are not lost (the status said 14 %).
        assert!(g.members[0].sent > g.members[0].received);
        assert_eq!(g.members[0].loss_pct(), 0);
        // Silence from 4 s on: the requests of 3.4 s and later get no answer.
        let silent = t0 + ms(4000);
        let mut t = silent;
        loop {
            g.on_timer(t);
            if !g.members[0].up {
                break;
            }
            t = g.next_deadline();
            assert!(t < silent + ms(3000), "never down");
        }
        // Down at the timeout of the third unanswered request (sent at 3.4, 3.6 and 3.8 s).
        assert_eq!(t - t0, ms(4800), "down at {:?}", t - t0);
    }

    #[test]
    fn forged_echo_replies_with_the_right_sequence_kept_a_dead_gateway_up() {
        let t0 = Instant::now();
        let mut g = PingGroupState::new(group(2), t0);
        let mut t = t0;
        for _ in 0..3 {
            for e in g.on_timer(t) {
                // The forger knows the identifier and the sequence, and the old fixed data.
                assert!(!g.on_reply(e.addr, e.seq, b"pikemon", t));
                let mut guess = e.data();
                guess[15] ^= 1;
                assert!(!g.on_reply(e.addr, e.seq, &guess, t));
            }
            t += Duration::from_secs(1);
        }
        g.on_timer(t);
        assert!(!g.up(), "three rounds of forged replies only");
        // Every request has a cookie of its own: the same host, the next round.
        let a = g.on_timer(t + Duration::from_secs(1));
        let b = g.on_timer(t + Duration::from_secs(2));
        assert_ne!(a[0].cookie, b[0].cookie);
        assert_ne!(a[0].cookie, a[1].cookie);
    }
}
