//! ldirectord's service checks as a real server would answer them: each body builds the
//! check's pure dialogue (no socket) and feeds it the bytes.

use std::net::SocketAddr;

use crate::applets::ldirectord::check::{
    ftp as ftp_check, http::Http, imap::Imap, ldap::Ldap, mysql::Mysql, nntp::Nntp, pgsql::Pgsql,
    pop::Pop, sip as sip_check, smtp::Smtp, Dialogue, SqlLogin, Step,
};
use crate::applets::ldirectord::config::{parse, Config, Receive};
use crate::applets::ldirectord::resolve::Resolve;

/// At most this many reads per input: a read ends at each line break, as a server's
/// replies often arrive.
const MAX_READS: usize = 64;

/// Literal addresses and numeric ports only: a fuzz body never asks the network.
pub(crate) struct Literal;

impl Resolve for Literal {
    fn host(&self, host: &str, v6: bool) -> Option<std::net::IpAddr> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = bare.parse().ok()?;
        (ip.is_ipv6() == v6).then_some(ip)
    }

    fn service(&self, name: &str, _proto: &str) -> Option<u16> {
        name.parse().ok()
    }
}

/// One virtual per dialogue that needs one, with a request and a receive pattern each.
pub(crate) const CHECKS_CF: &str = "\
virtual=198.51.100.10:80
\treal=198.51.100.21:80 masq
\tservice=http
\trequest=\"index.html\"
\treceive=\"Test Pa.e\"
virtual=198.51.100.10:110
\treal=198.51.100.21:110 masq
\tservice=pop
\tlogin=\"user\"
\tpasswd=\"pw\"
virtual=198.51.100.10:143
\treal=198.51.100.21:143 masq
\tservice=imap
\tlogin=\"user\"
\tpasswd=\"pw\"
virtual=198.51.100.10:389
\treal=198.51.100.21:389 masq
\tservice=ldap
\tlogin=\"cn=admin,dc=example,dc=test\"
\tpasswd=\"pw\"
\trequest=\"dc=example,dc=test\"
\treceive=\"ou=web\"
";

thread_local! {
    static CHECKS: Option<Config> = parse("checks.cf", CHECKS_CF, &Literal).ok();
}

/// Runs `make` on the virtual and real of `port` in `CHECKS_CF`, then feeds `data` to the
/// dialogue it returns.
fn with_virtual<D: Dialogue>(port: u16, data: &[u8], make: impl Fn(&Config, usize) -> D) {
    CHECKS.with(|c| {
        let Some(c) = c else {
            panic!("checks.cf does not parse");
        };
        let i = c
            .virtuals
            .iter()
            .position(|v| v.port() == port)
            .unwrap_or_else(|| panic!("no virtual for port {port}"));
        converse(&mut make(c, i), data);
    });
}

/// Feeds `data` to `d` as the server's answer: reads ending at each line break, then the
/// rest with the peer's close. A `Send` consumes what was read, as `TcpCheck` does.
fn converse(d: &mut dyn Dialogue, data: &[u8]) {
    d.connected(SocketAddr::from(([192, 0, 2, 1], 40000)));
    let _ = d.opening();
    let breaks = data
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .take(MAX_READS);
    let mut start = 0;
    for (end, eof) in breaks.map(|e| (e, false)).chain([(data.len(), true)]) {
        let input = data.get(start..end).unwrap_or_default();
        if input.is_empty() && !eof {
            continue;
        }
        match d.received(input, eof) {
            Step::More => {}
            Step::Send(_) => start = end,
            Step::Finish(..) | Step::Done(_) => return,
        }
    }
}

/// An HTTP response (status line, headers, a body by length, chunked or to the close).
/// The check reads incrementally: the same bytes split at points drawn from the input (and
/// byte by byte, for short inputs) must give the same result as in one piece, with and
/// without the peer's close at the end.
pub fn http(data: &[u8]) {
    with_virtual(80, data, |c, i| {
        Http::new(&c.virtuals[i], &c.virtuals[i].reals[0])
    });
    CHECKS.with(|c| {
        let Some(c) = c else {
            panic!("checks.cf does not parse");
        };
        let Some(v) = c.virtuals.iter().find(|v| v.port() == 80) else {
            panic!("no virtual for port 80");
        };
        let check = || Http::new(v, &v.reals[0]);
        let mut cuts = split_points(data);
        for eof in [false, true] {
            let whole = in_pieces(&mut check(), data, &[], eof);
            assert_eq!(
                in_pieces(&mut check(), data, &cuts, eof),
                whole,
                "cuts {cuts:?}"
            );
            if data.len() <= 256 {
                cuts = (0..data.len()).collect();
                assert_eq!(
                    in_pieces(&mut check(), data, &cuts, eof),
                    whole,
                    "byte by byte"
                );
            }
        }
    });
}

/// Up to 8 increasing points in `0..data.len()`, drawn from the data itself (a fuzz body
/// must be deterministic).
fn split_points(data: &[u8]) -> Vec<usize> {
    let mut seed = data
        .iter()
        .fold(0x9e37_79b9_u32 ^ data.len() as u32, |h, &b| {
            h.rotate_left(5) ^ u32::from(b)
        })
        | 1;
    let mut cuts: Vec<usize> = (0..8)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % data.len().max(1)
        })
        .collect();
    cuts.sort_unstable();
    cuts
}

/// Feeds `d` the growing prefixes of `data` ending at `cuts`, then all of `data` (`eof`:
/// with the peer's close); the first answer that is not `More`.
fn in_pieces(d: &mut dyn Dialogue, data: &[u8], cuts: &[usize], eof: bool) -> Step {
    for &cut in cuts {
        match d.received(data.get(..cut).unwrap_or_default(), false) {
            Step::More => {}
            step => return step,
        }
    }
    d.received(data, eof)
}

/// FTP control replies (multi-line, PASV and EPSV addresses), then a retrieved file.
pub fn ftp(data: &[u8]) {
    let receive = Receive::new("Test Pa.e").ok();
    ftp_check::replay(
        data,
        SocketAddr::from(([192, 0, 2, 21], 21)),
        receive.as_ref(),
    );
    ftp_check::replay(
        data,
        "[2001:db8::21]:21".parse().unwrap_or(([0; 4], 21).into()),
        None,
    );
}

/// SMTP replies (greeting, EHLO) as the smtp check reads them.
pub fn smtp(data: &[u8]) {
    converse(&mut Smtp::new("lb.example.test"), data);
}

/// POP3 replies through USER and PASS.
pub fn pop(data: &[u8]) {
    with_virtual(110, data, |c, i| Pop::new(&c.virtuals[i]));
}

/// IMAP replies through LOGIN.
pub fn imap(data: &[u8]) {
    with_virtual(143, data, |c, i| Imap::new(&c.virtuals[i]));
}

/// An NNTP greeting.
pub fn nntp(data: &[u8]) {
    converse(&mut Nntp, data);
}

/// A SIP answer to OPTIONS, over TCP and as a UDP datagram.
pub fn sip(data: &[u8]) {
    converse(&mut sip_check::SipTcp::new("ldirectord"), data);
    let _ = sip_check::judge_datagram(data);
    let _ = sip_check::judge_reply(data, "30fe4891a3d291db");
}

fn sql() -> SqlLogin {
    SqlLogin {
        login: "ld".into(),
        passwd: "secret".into(),
        database: "app".into(),
        query: "SELECT 1".into(),
    }
}

/// MySQL packets: handshake, authentication switch and result, the query's result set.
pub fn mysql(data: &[u8]) {
    converse(&mut Mysql::new(sql()), data);
}

/// PostgreSQL messages: authentication (cleartext, MD5, SCRAM-SHA-256), the query's rows.
pub fn pgsql(data: &[u8]) {
    converse(&mut Pgsql::new(sql()), data);
}

/// LDAP responses to the ldap check's bind and search.
pub(crate) fn ldap_check(data: &[u8]) {
    with_virtual(389, data, |c, i| {
        Ldap::new(&c.virtuals[i], &c.virtuals[i].reals[0])
    });
}
