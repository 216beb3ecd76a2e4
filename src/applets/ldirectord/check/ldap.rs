//! service=ldap / ldaps: what the original's check_ldap asks of Net::LDAP. An LDAPv3 simple
//! bind (login/passwd when both are set, else anonymous), then a search with base = request
//! without its leading `/`, scope baseObject, filter `(objectClass=*)`. Up: the bind
//! succeeded, exactly one entry came back and, if receive is set, its DN matches receive.
//! ldaps is the same inside TLS. The daemon bounds it by checktimeout (the original's alarm),
//! not negotiatetimeout. An Unbind is sent as a courtesy when done.

use super::{Dialogue, Step};
use crate::applets::ldirectord::config::{Real, Receive, Virtual};
use crate::applets::ldirectord::core::Outcome;
use crate::wire::ldap::{Message, Request, Response, ResultCode};

/// Message ids, as Net::LDAP numbers them on a fresh connection.
const BIND_ID: u32 = 1;
const SEARCH_ID: u32 = 2;
const UNBIND_ID: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Bind,
    Search,
}

/// The LDAP check.
pub struct Ldap {
    stage: Stage,
    bind: Request,
    base: String,
    receive: Option<Receive>,
    /// DNs of the entries received so far.
    entries: Vec<String>,
    /// Bytes of the current input already decoded.
    seen: usize,
}

impl Ldap {
    pub fn new(v: &Virtual, r: &Real) -> Ldap {
        let (req, rcv) = match (&r.request, &r.receive) {
            (Some(q), Some(rc)) => (q.as_str(), Some(rc)),
            _ => (v.request.as_str(), v.receive.as_ref()),
        };
        let (name, password) = if !v.login.is_empty() && !v.passwd.is_empty() {
            (v.login.clone(), v.passwd.clone())
        } else {
            (String::new(), String::new())
        };
        Ldap {
            stage: Stage::Bind,
            bind: Request::Bind { name, password },
            base: req.strip_prefix('/').unwrap_or(req).to_string(),
            receive: rcv.cloned(),
            entries: Vec::new(),
            seen: 0,
        }
    }

    fn finish(outcome: Outcome) -> Step {
        Step::Finish(Request::Unbind.emit(UNBIND_ID), outcome)
    }

    /// The verdict once the search is done.
    fn judge(&self, done: &str) -> Outcome {
        let [dn] = self.entries.as_slice() else {
            return Outcome::Down(format!(
                "No answer received ({} entries; {done})",
                self.entries.len()
            ));
        };
        match &self.receive {
            Some(re) if !re.is_match(dn) => Outcome::Down(format!("Response mismatch ({dn})")),
            _ => Outcome::Up(format!("Success ({dn})")),
        }
    }

    /// Handles one message; None: keep reading.
    fn handle(&mut self, m: Message) -> Option<Step> {
        match (self.stage, m.response) {
            (Stage::Bind, Response::Bind(r)) if m.id == i64::from(BIND_ID) => {
                if r.code != ResultCode::SUCCESS {
                    return Some(Self::finish(Outcome::Down(format!("Bind failed: {r}"))));
                }
                self.stage = Stage::Search;
                let search = Request::SearchBase {
                    base: self.base.clone(),
                };
                Some(Step::Send(search.emit(SEARCH_ID)))
            }
            (Stage::Search, Response::Entry { dn }) if m.id == i64::from(SEARCH_ID) => {
                self.entries.push(dn);
                None
            }
            (Stage::Search, Response::SearchDone(r)) if m.id == i64::from(SEARCH_ID) => {
                Some(Self::finish(self.judge(&r.to_string())))
            }
            // Message id 0 is an unsolicited notification: the server is closing (§4.4.1).
            (_, Response::Other(_)) if m.id == 0 => Some(Step::Done(Outcome::Down(
                "server sent a notice of disconnection".into(),
            ))),
            // Search references and anything not answering our request are ignored.
            _ => None,
        }
    }
}

impl Dialogue for Ldap {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (self.bind.emit(BIND_ID), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        loop {
            let rest = input.get(self.seen..).unwrap_or_default();
            match Message::parse(rest) {
                Err(e) => return Step::Done(Outcome::Down(format!("LDAP: {e}"))),
                Ok(None) => return Step::More,
                Ok(Some((m, n))) => {
                    self.seen += n;
                    if let Some(step) = self.handle(m) {
                        if let Step::Send(_) = step {
                            self.seen = 0;
                        }
                        return step;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;
    use crate::wire::testing::hex;

    // Captured from OpenLDAP slapd 2.5.13, as in wire::ldap.
    const BIND_OK: &str = "300c02010161070a010004000400";
    const BIND_BAD_CREDENTIALS: &str = "300c02010161070a013104000400";
    const ENTRY_AND_DONE: &str = "3054020102644f04196f753d7765622c64633d6578616d706c652c64633d7465737430323023040b6f626a656374436c617373311404126f7267616e697a6174696f6e616c556e6974300b04026f7531050403776562300c02010265070a010004000400";
    const NO_SUCH_OBJECT: &str = "301e02010265190a0120041264633d6578616d706c652c64633d746573740400";

    fn check(login: &str, request: &str, receive: &str) -> Ldap {
        let mut text = String::from(
            "virtual=198.51.100.10:389\n\treal=198.51.100.21 masq\n\tservice=ldap\n\tpasswd=\"pw\"\n",
        );
        for (key, value) in [("login", login), ("request", request), ("receive", receive)] {
            if !value.is_empty() {
                text.push_str(&format!("\t{key}=\"{value}\"\n"));
            }
        }
        let c = parse("t", &text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        Ldap::new(&c.virtuals[0], &c.virtuals[0].reals[0])
    }

    fn after_bind(l: &mut Ldap) {
        let _ = l.opening();
        match l.received(&hex(BIND_OK), false) {
            Step::Send(b) => assert_eq!(b[5], 0x63, "a SearchRequest"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anonymous_unless_login_and_passwd() {
        let mut l = check("", "/", "");
        assert_eq!(l.opening().0, hex("300c020101600702010304008000"));
        let mut l = check("cn=admin,dc=example,dc=test", "/", "");
        let (b, shut) = l.opening();
        assert!(!shut);
        assert!(b.windows(8).any(|w| w == b"cn=admin"));
        assert_eq!(&b[b.len() - 4..], &[0x80, 2, b'p', b'w']);
    }

    #[test]
    fn one_entry_is_up_and_unbinds() {
        let mut l = check("", "/ou=web,dc=example,dc=test", "");
        after_bind(&mut l);
        match l.received(&hex(ENTRY_AND_DONE), false) {
            Step::Finish(unbind, Outcome::Up(m)) => {
                assert_eq!(unbind, hex("30050201034200"));
                assert!(m.contains("ou=web,dc=example,dc=test"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn search_base_is_the_request_without_slash() {
        let mut l = check("", "/ou=web,dc=example,dc=test", "");
        let _ = l.opening();
        let Step::Send(b) = l.received(&hex(BIND_OK), false) else {
            panic!()
        };
        assert!(b
            .windows(27)
            .any(|w| w == b"\x04\x19ou=web,dc=example,dc=test"));
    }

    #[test]
    fn messages_split_across_reads() {
        let mut l = check("", "/ou=web,dc=example,dc=test", "web");
        after_bind(&mut l);
        let all = hex(ENTRY_AND_DONE);
        // TcpCheck passes everything received since the last Send, growing.
        for cut in [3, 40, 86, 90] {
            assert_eq!(l.received(&all[..cut], false), Step::More, "cut {cut}");
        }
        assert!(matches!(
            l.received(&all, false),
            Step::Finish(_, Outcome::Up(_))
        ));
    }

    #[test]
    fn receive_must_match_the_dn() {
        let mut l = check("", "/ou=web,dc=example,dc=test", "^cn=");
        after_bind(&mut l);
        assert!(matches!(
            l.received(&hex(ENTRY_AND_DONE), false),
            Step::Finish(_, Outcome::Down(m)) if m.starts_with("Response mismatch")
        ));
    }

    #[test]
    fn bind_failure_is_down_with_the_code() {
        let mut l = check("cn=admin,dc=example,dc=test", "/", "");
        let _ = l.opening();
        match l.received(&hex(BIND_BAD_CREDENTIALS), false) {
            Step::Finish(_, Outcome::Down(m)) => {
                assert_eq!(m, "Bind failed: invalidCredentials (49)")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_entry_is_down() {
        let mut l = check("", "/cn=missing,dc=example,dc=test", "");
        after_bind(&mut l);
        match l.received(&hex(NO_SUCH_OBJECT), false) {
            Step::Finish(_, Outcome::Down(m)) => {
                assert!(m.contains("0 entries; noSuchObject (32)"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_down() {
        let mut l = check("", "/", "");
        let _ = l.opening();
        assert!(matches!(
            l.received(b"HTTP/1.0 400 Bad Request\r\n", false),
            Step::Done(Outcome::Down(_))
        ));
    }

    #[test]
    fn bounded_by_checktimeout_as_the_original() {
        let text = "checktimeout=3\nnegotiatetimeout=20\nvirtual=198.51.100.10:636\n\t\
                    real=198.51.100.21 masq\n\tservice=ldaps\n";
        let c = parse("t", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.virtuals[0].negotiate_timeout(), 3);
    }
}
