//! service=pgsql: the original's DBI connect + execute, spoken directly (PostgreSQL frontend/
//! backend protocol 3.0, "Message Flow" and "Message Formats" in the PostgreSQL manual): a
//! StartupMessage (user `login`, database `database` if set; empty means the user's name, as
//! libpq), authentication by trust, cleartext password, md5 or SCRAM-SHA-256 (RFC 5802 /
//! RFC 7677, PostgreSQL 14+'s default; no channel binding, the check runs without TLS), then
//! a simple Query `request` (its leading `/` dropped). Up: at least one DataRow before
//! ReadyForQuery. An ErrorResponse is down with its message.
//!
//! The original executes the statement twice and judges the second run; for "at least one
//! row" one run says the same, so it runs once. A result bigger than the check's input limit
//! is judged on its first part.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use std::io;
use std::net::SocketAddr;

use super::{Check, Dialogue, SqlLogin, Step, TcpCheck, MAX_INPUT};
use crate::applets::ldirectord::config::{Real, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// Protocol 3.0.
const PROTOCOL: u32 = 196_608;
const SCRAM: &str = "SCRAM-SHA-256";
/// The most PBKDF2 iterations a server may ask for: the check runs inside the daemon's loop
/// (PostgreSQL's default is 4096).
const MAX_ITERATIONS: u32 = 100_000;

/// One backend message at the start of `input`: type, body, bytes used.
fn message(input: &[u8]) -> Option<(u8, &[u8], usize)> {
    let [kind, a, b, c, d] = *input.get(..5)? else {
        return None;
    };
    let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).ok()?;
    let body = input.get(5..1 + len.max(4))?;
    Some((kind, body, 1 + len.max(4)))
}

/// A frontend message: type, length, body.
fn emit(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database)] {
        if !v.is_empty() {
            for s in [k, v] {
                body.extend_from_slice(s.as_bytes());
                body.push(0);
            }
        }
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// An ErrorResponse's `SEVERITY: message` (fields: type byte, NUL-terminated text).
fn error_text(body: &[u8]) -> String {
    let mut severity = String::from("ERROR");
    let mut msg = String::new();
    for field in body.split(|&b| b == 0) {
        let Some((&kind, text)) = field.split_first() else {
            break;
        };
        let text = String::from_utf8_lossy(text).into_owned();
        match kind {
            b'S' => severity = text,
            b'M' => msg = text,
            _ => {}
        }
    }
    format!("{severity}: {msg}")
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// md5 password: `md5` + md5hex(md5hex(password + user) + salt).
fn md5_password(user: &str, password: &str, salt: &[u8]) -> String {
    let inner = hex(&Md5::new()
        .chain_update(password)
        .chain_update(user)
        .finalize());
    let outer = Md5::new().chain_update(inner).chain_update(salt).finalize();
    format!("md5{}", hex(&outer))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64 with padding.
fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return [0; 32],
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2), one 32-byte block: SCRAM's Hi(). The keyed HMAC
/// state is set up once and cloned per iteration (two SHA-256 blocks per iteration instead
/// of four).
fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = match <Hmac<Sha256> as KeyInit>::new_from_slice(password) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return [0; 32],
    };
    let mut m = keyed.clone();
    m.update(salt);
    m.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = m.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut m = keyed.clone();
        m.update(&u);
        u = m.finalize().into_bytes().into();
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

/// Salted passwords already computed, keyed by a digest of (password, salt, iterations): a
/// server keeps a user's salt and iteration count, so each real costs one PBKDF2 (up to
/// `MAX_ITERATIONS` inside the loop) when first checked, not at every check. Bounded: the
/// oldest entry goes.
const SALTED_CACHE: usize = 64;

thread_local! {
    static SALTED: std::cell::RefCell<Vec<([u8; 32], [u8; 32])>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// PBKDF2 runs so far (for the tests).
    static PBKDF2_RUNS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// `pbkdf2`, from the cache when the same password, salt and count were seen.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut id = Sha256::new();
    for part in [password, salt, &iterations.to_be_bytes()[..]] {
        id.update((part.len() as u64).to_be_bytes());
        id.update(part);
    }
    let id: [u8; 32] = id.finalize().into();
    if let Some(hit) = SALTED.with(|c| c.borrow().iter().find(|(k, _)| *k == id).map(|e| e.1)) {
        return hit;
    }
    let salted = pbkdf2(password, salt, iterations);
    PBKDF2_RUNS.with(|n| n.set(n.get() + 1));
    SALTED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= SALTED_CACHE {
            c.remove(0);
        }
        c.push((id, salted));
    });
    salted
}

/// The client side of one SCRAM-SHA-256 exchange (RFC 5802 §3).
struct Scram {
    password: String,
    nonce: String,
    client_first_bare: String,
    /// The ServerSignature the server must prove it knows, once computed.
    server_signature: Option<[u8; 32]>,
}

impl Scram {
    /// PostgreSQL ignores the SCRAM user name (it has the startup one), so `user` is empty.
    fn new(user: &str, password: &str, nonce: String) -> Scram {
        Scram {
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// The client-final-message for the server-first-message.
    fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        let nonce = attr("r").ok_or("SCRAM: no server nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err("SCRAM: the server nonce does not extend ours".into());
        }
        let salt = attr("s").and_then(b64_decode).ok_or("SCRAM: bad salt")?;
        let iterations: u32 = attr("i")
            .and_then(|i| i.parse().ok())
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or("SCRAM: bad or too large iteration count")?;
        // SASLprep (RFC 4013) is not applied: it changes only non-ASCII passwords.
        let salted = salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        self.server_signature = Some(hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", b64_encode(&proof)))
    }

    /// Checks the server-final-message (`v=` its signature, or `e=` an error).
    fn verify(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("SCRAM: {e}"));
        }
        let v = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .and_then(b64_decode);
        match (v, self.server_signature) {
            (Some(v), Some(s)) if v == s => Ok(()),
            _ => Err("SCRAM: the server's signature is wrong".into()),
        }
    }
}

/// A fresh client nonce: 18 random bytes as base64.
fn client_nonce() -> String {
    use std::io::Read;
    let mut b = [0u8; 18];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if random.is_err() {
        // Unique enough for a nonce when the kernel's pool is unreachable.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = format!("{:?}{}", t, std::process::id());
        let h = Sha256::digest(seed.as_bytes());
        b.iter_mut().zip(h.iter()).for_each(|(o, x)| *o = *x);
    }
    b64_encode(&b)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Authenticating, then up to ReadyForQuery.
    Startup,
    /// The query is sent; counting DataRows.
    Query(u64),
}

/// The PostgreSQL check.
pub struct Pgsql {
    stage: Stage,
    sql: SqlLogin,
    scram: Option<Scram>,
    /// Bytes of the current input already handled.
    seen: usize,
}

impl Pgsql {
    /// Connects to the real (a missing login or request fails the check, see `SqlLogin`).
    pub fn start(v: &Virtual, r: &Real, addr: SocketAddr) -> io::Result<Box<dyn Check>> {
        let d = Pgsql::new(SqlLogin::of(v, r, "pgsql")?);
        Ok(Box::new(TcpCheck::start(addr, d, false)?))
    }

    /// The dialogue alone, before the startup message.
    pub(crate) fn new(sql: SqlLogin) -> Pgsql {
        Pgsql {
            stage: Stage::Startup,
            sql,
            scram: None,
            seen: 0,
        }
    }

    fn send(&mut self, bytes: Vec<u8>) -> Option<Step> {
        self.seen = 0;
        Some(Step::Send(bytes))
    }

    fn password(&mut self, text: &str) -> Option<Step> {
        let mut body = text.as_bytes().to_vec();
        body.push(0);
        self.send(emit(b'p', &body))
    }

    /// An Authentication ('R') message.
    fn authentication(&mut self, body: &[u8]) -> Option<Step> {
        let down = |m: String| Some(Step::Done(Outcome::Down(m)));
        let data = body.get(4..).unwrap_or_default();
        match be_u32(body) {
            Some(0) => None,
            Some(3) => {
                let pw = self.sql.passwd.clone();
                self.password(&pw)
            }
            Some(5) => match data.get(..4) {
                Some(salt) => {
                    let pw = md5_password(&self.sql.login, &self.sql.passwd, salt);
                    self.password(&pw)
                }
                None => down("md5 authentication without salt".into()),
            },
            Some(10) => {
                let offered = data.split(|&b| b == 0).any(|m| m == SCRAM.as_bytes());
                if !offered {
                    return down("no supported SASL mechanism offered".into());
                }
                let scram = Scram::new("", &self.sql.passwd, client_nonce());
                let first = scram.client_first();
                self.scram = Some(scram);
                let mut b = SCRAM.as_bytes().to_vec();
                b.push(0);
                b.extend_from_slice(&(first.len() as u32).to_be_bytes());
                b.extend_from_slice(first.as_bytes());
                self.send(emit(b'p', &b))
            }
            Some(11) => {
                let server_first = String::from_utf8_lossy(data);
                let Some(scram) = self.scram.as_mut() else {
                    return down("SASL continue without SASL".into());
                };
                match scram.client_final(&server_first) {
                    Ok(fin) => self.send(emit(b'p', fin.as_bytes())),
                    Err(e) => down(e),
                }
            }
            Some(12) => {
                let verified = match &self.scram {
                    Some(s) => s.verify(&String::from_utf8_lossy(data)),
                    None => Err("SASL final without SASL".into()),
                };
                verified.err().and_then(down)
            }
            Some(n) => down(format!("authentication method {n} not supported")),
            None => down("malformed authentication message".into()),
        }
    }

    /// One backend message; `None` to read on.
    fn on_message(&mut self, kind: u8, body: &[u8]) -> Option<Step> {
        match (self.stage, kind) {
            (_, b'E') => Some(Step::Done(Outcome::Down(error_text(body)))),
            (Stage::Startup, b'R') => self.authentication(body),
            (Stage::Startup, b'Z') => {
                self.stage = Stage::Query(0);
                let mut q = self.sql.query.as_bytes().to_vec();
                q.push(0);
                self.send(emit(b'Q', &q))
            }
            (Stage::Query(n), b'D') => {
                self.stage = Stage::Query(n + 1);
                None
            }
            (Stage::Query(0), b'Z') => Some(Step::Done(Outcome::Down(
                "the query returned no rows".into(),
            ))),
            (Stage::Query(n), b'Z') => Some(Step::Finish(
                emit(b'X', &[]),
                Outcome::Up(format!("{n} row(s)")),
            )),
            // ParameterStatus, BackendKeyData, NoticeResponse, RowDescription,
            // CommandComplete, EmptyQueryResponse, ...: nothing to decide on.
            _ => None,
        }
    }
}

impl Dialogue for Pgsql {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (startup(&self.sql.login, &self.sql.database), false)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        while let Some((kind, body, used)) = input.get(self.seen..).and_then(message) {
            self.seen += used;
            if let Some(step) = self.on_message(kind, body) {
                return step;
            }
        }
        match self.stage {
            Stage::Query(n) if n > 0 && eof && input.len() >= MAX_INPUT => Step::Done(Outcome::Up(
                format!("{n} row(s) in the first part of the result"),
            )),
            _ => Step::More,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> Pgsql {
        Pgsql {
            stage: Stage::Startup,
            sql: SqlLogin {
                login: "bob".into(),
                passwd: "pw".into(),
                database: "app".into(),
                query: "SELECT 1".into(),
            },
            scram: None,
            seen: 0,
        }
    }

    fn auth(code: u32, data: &[u8]) -> Vec<u8> {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(data);
        emit(b'R', &b)
    }

    /// What a server sends after a successful authentication.
    fn ready() -> Vec<u8> {
        let mut m = auth(0, &[]);
        m.extend(emit(b'S', b"server_version\x0015.8\0"));
        m.extend(emit(b'K', &[0, 0, 0, 42, 1, 2, 3, 4]));
        m.extend(emit(b'Z', b"I"));
        m
    }

    #[test]
    fn startup_message_layout() {
        assert_eq!(
            check().opening().0,
            b"\0\0\0\x1f\0\x03\0\0user\0bob\0database\0app\0\0".to_vec()
        );
        let mut c = check();
        c.sql.database.clear();
        assert_eq!(c.opening().0, b"\0\0\0\x12\0\x03\0\0user\0bob\0\0".to_vec());
    }

    #[test]
    fn trust_then_query_with_rows_is_up() {
        let mut c = check();
        assert_eq!(
            c.received(&ready(), false),
            Step::Send(emit(b'Q', b"SELECT 1\0"))
        );
        let mut r = emit(
            b'T',
            b"\0\x01?column?\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
        );
        assert_eq!(c.received(&r, false), Step::More);
        r.extend(emit(b'D', b"\0\x01\0\0\0\x011"));
        r.extend(emit(b'C', b"SELECT 1\0"));
        assert_eq!(c.received(&r, false), Step::More);
        r.extend(emit(b'Z', b"I"));
        assert_eq!(
            c.received(&r, false),
            Step::Finish(emit(b'X', &[]), Outcome::Up("1 row(s)".into()))
        );
    }

    #[test]
    fn no_rows_and_error_are_down() {
        let mut c = check();
        c.stage = Stage::Query(0);
        let mut r = emit(b'C', b"SELECT 0\0");
        r.extend(emit(b'Z', b"I"));
        assert_eq!(
            c.received(&r, false),
            Step::Done(Outcome::Down("the query returned no rows".into()))
        );
        let mut c = check();
        let e = emit(
            b'E',
            b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"bob\"\0\0",
        );
        assert_eq!(
            c.received(&e, false),
            Step::Done(Outcome::Down(
                "FATAL: password authentication failed for user \"bob\"".into()
            ))
        );
    }

    #[test]
    fn cleartext_and_md5_passwords() {
        let mut c = check();
        assert_eq!(
            c.received(&auth(3, &[]), false),
            Step::Send(emit(b'p', b"pw\0"))
        );
        let mut c = check();
        // Expected value from Python's hashlib over the same inputs.
        assert_eq!(
            c.received(&auth(5, &[1, 2, 3, 4]), false),
            Step::Send(emit(b'p', b"md5cb38f15ce1fcb6e1c15f9a188dcaaa9b\0"))
        );
        assert!(matches!(
            check().received(&auth(7, &[]), false),
            Step::Done(Outcome::Down(_))
        ));
    }

    /// RFC 7677 §3's example exchange.
    #[test]
    fn scram_sha_256_rfc7677_example() {
        let mut s = Scram::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            s.client_final(server_first).as_deref(),
            Ok(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            )
        );
        assert_eq!(
            s.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(())
        );
        assert!(s.verify("v=AAAA").is_err());
        assert!(s.verify("e=invalid-proof").is_err());
        let mut s = Scram::new("", "pencil", "abc".into());
        assert!(s.client_final("r=xyz,s=AAAA,i=4096").is_err());
        assert!(s.client_final("r=abcd,s=AAAA,i=99999999").is_err());
    }

    /// Every check of a pgsql real with SCRAM ran PBKDF2 again inside the daemon's loop (up
    /// to 100,000 iterations, tens of ms each): now once per password, salt and count.
    #[test]
    fn pbkdf2_ran_at_every_check_and_now_once_per_salt_and_iteration_count() {
        let runs = || PBKDF2_RUNS.with(|n| n.get());
        let before = runs();
        let first = "r=abcdXYZ,s=c2FsdHNhbHQ=,i=4096";
        for _ in 0..5 {
            let mut s = Scram::new("u", "cache-test-password", "abcd".into());
            assert!(s.client_final(first).is_ok());
        }
        assert_eq!(runs() - before, 1);
        // Another salt is another PBKDF2; the cache stays bounded.
        for i in 0..(SALTED_CACHE + 10) {
            let mut s = Scram::new("u", "cache-test-password", "abcd".into());
            let salt = b64_encode(format!("salt{i}").as_bytes());
            assert!(s.client_final(&format!("r=abcdXYZ,s={salt},i=16")).is_ok());
        }
        assert_eq!(runs() - before, 1 + SALTED_CACHE as u64 + 10);
        assert!(SALTED.with(|c| c.borrow().len()) <= SALTED_CACHE);
        // The result is RFC 7677's whether computed or cached (see the example test).
        assert_eq!(
            pbkdf2(b"pencil", b"salt", 2),
            salted_password(b"pencil", b"salt", 2)
        );
    }

    #[test]
    fn scram_flow_in_the_dialogue() {
        let mut c = check();
        let Step::Send(first) =
            c.received(&auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"), false)
        else {
            panic!("no SASLInitialResponse");
        };
        assert!(first.starts_with(b"p"));
        assert!(first.windows(17).any(|w| w == b"SCRAM-SHA-256\0\0\0\0"));
        let nonce = c
            .scram
            .as_ref()
            .map(|s| s.nonce.clone())
            .unwrap_or_default();
        assert_eq!(nonce.len(), 24);
        let sf = format!("r={nonce}srv,s=QSXCR+Q6sek8bf92,i=4096");
        let Step::Send(fin) = c.received(&auth(11, sf.as_bytes()), false) else {
            panic!("no SASLResponse");
        };
        assert!(fin.windows(9).any(|w| w == b"c=biws,r="));
        assert!(matches!(
            c.received(&auth(12, b"v=AAAA"), false),
            Step::Done(Outcome::Down(_))
        ));
        assert!(matches!(
            check().received(&auth(10, b"SCRAM-SHA-1\0\0"), false),
            Step::Done(Outcome::Down(_))
        ));
    }

    #[test]
    fn base64_round_trip() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(b64_decode(&b64_encode(&data)), Some(data));
        }
        assert_eq!(b64_encode(b"n,,"), "biws");
        assert_eq!(b64_decode("a*b"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u32;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = error_text(&bytes);
            let _ = b64_decode(&String::from_utf8_lossy(&bytes));
            for kind in [b'R', b'E', b'Z', b'D', b'S'] {
                let mut m = vec![kind, 0, 0, 0, 4 + (len % 16) as u8];
                m.extend_from_slice(&bytes);
                for stage in [Stage::Startup, Stage::Query(0), Stage::Query(2)] {
                    let mut c = check();
                    c.stage = stage;
                    let _ = c.received(&m, len % 2 == 1);
                    let _ = c.received(&bytes, true);
                }
            }
            for code in [5u32, 10, 11, 12] {
                let mut c = check();
                c.scram = Some(Scram::new("", "pw", "abc".into()));
                let _ = c.received(&auth(code, &bytes), false);
            }
            let mut s = Scram::new("", "pw", "abc".into());
            let _ = s.client_final(&format!("r=abcd,s={},i=2", String::from_utf8_lossy(&bytes)));
            let _ = s.verify(&String::from_utf8_lossy(&bytes));
        }
    }
}
