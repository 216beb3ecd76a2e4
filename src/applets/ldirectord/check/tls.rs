//! TLS for https, pops and imaps checks (rustls, ring backend). The server's certificate is
//! not verified — a health check asks "does it answer", not "is it who it claims", and
//! backends commonly carry self-signed certificates — but the handshake signatures are, with
//! the key of the certificate the server sent (a server whose key does not match its
//! certificate fails with every client). Unlike the original: its LWP is built with
//! `verify_hostname => 0`, which only skips the host name check; IO::Socket::SSL then
//! verifies the chain against the system's CAs (Debian 12: a self-signed real is down with
//! "certificate verify failed").

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Accepts any certificate; checks the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
        .or_else(|e| self.verify_any_version(message, cert, dss).ok_or(e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
        .or_else(|e| self.verify_any_version(message, cert, dss).ok_or(e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl AnyCertificate {
    /// Checks a handshake signature with the key of a certificate webpki refuses to read:
    /// an X.509 v1 certificate (no extensions; what `openssl ca` and old appliances make) was
    /// "invalid peer certificate: UnsupportedCertVersion", a healthy real down.
    fn verify_any_version(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Option<HandshakeSignatureValid> {
        let (alg_id, key) = public_key(cert.as_ref())?;
        let (_, algs) = self
            .0
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)?;
        algs.iter()
            .filter(|a| a.public_key_alg_id().as_ref() == alg_id)
            .any(|a| a.verify_signature(key, message, dss.signature()).is_ok())
            .then(HandshakeSignatureValid::assertion)
    }
}

/// One DER element of `input`: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = rest
            .get(..n)?
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The subject public key of a certificate of any version (RFC 5280 §4.1): the contents of
/// its algorithm identifier and the key bits.
fn public_key(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, cert, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der(cert)? else {
        return None;
    };
    // `[0] EXPLICIT Version`, absent in a v1 certificate.
    if tbs.first() == Some(&0xa0) {
        tbs = der(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = der(tbs)?.2;
    }
    let (SEQUENCE, info, _) = der(tbs)? else {
        return None;
    };
    let (SEQUENCE, alg_id, rest) = der(info)? else {
        return None;
    };
    let (0x03, bits, _) = der(rest)? else {
        return None;
    };
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some((alg_id, key))
}

fn config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .ok()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Some(Arc::new(cfg))
        })
        .clone()
        .ok_or_else(|| io::Error::other("TLS configuration failed"))
}

/// One TLS client session over a non-blocking stream.
pub struct Session {
    conn: ClientConnection,
    /// The TLS error that ended the stream (a fatal alert, a record that failed to
    /// decrypt), held until the plaintext decrypted before it is all read.
    failed: Option<String>,
}

impl Session {
    pub fn new(ip: IpAddr) -> io::Result<Session> {
        let conn = ClientConnection::new(config()?, ServerName::IpAddress(ip.into()))
            .map_err(io::Error::other)?;
        Ok(Session { conn, failed: None })
    }

    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Queues plaintext (rustls holds it until the handshake is done).
    pub fn write_plain(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(data)
    }

    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Sends queued TLS records until the socket would block; says whether anything went
    /// out.
    pub fn write_tls(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        let mut wrote = false;
        while self.conn.wants_write() {
            match self.conn.write_tls(stream) {
                Ok(n) => wrote |= n > 0,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(wrote),
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }

    /// Reads records and appends the plaintext to `input` (up to `max`); true at EOF or once
    /// `max` is reached (the plain path's rule). The plaintext is drained after every record
    /// batch: rustls refuses to read more TLS ("received plaintext buffer full") while 16 KiB
    /// of it wait, which made every bigger page a failed check. A read error (a TCP reset)
    /// comes after all that was decrypted is in `input` (each batch is drained before the
    /// next read): like a close without close_notify, a reset after the answer leaves the
    /// answer to be judged (`TcpCheck::fill`). So does a TLS error (`Failed`): the records
    /// before the one that failed (a fatal alert, a record that does not decrypt), read in
    /// the same segment, are decrypted and moved to `input` first.
    pub fn read(
        &mut self,
        stream: &mut TcpStream,
        input: &mut Vec<u8>,
        max: usize,
    ) -> Result<bool, ReadError> {
        loop {
            if self.drain(input, max)? {
                return Ok(true);
            }
            if let Some(m) = &self.failed {
                return Err(ReadError::Failed(m.clone()));
            }
            match self.conn.read_tls(stream) {
                Ok(0) => {
                    self.drain(input, max)?;
                    return Ok(true);
                }
                Ok(_) => {
                    let handshaking = self.conn.is_handshaking();
                    if let Err(e) = self.conn.process_new_packets() {
                        self.failed = Some(explain(e, handshaking));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Moves the decrypted plaintext into `input` (up to `max`); true at the end of the
    /// stream or when `max` is reached.
    fn drain(&mut self, input: &mut Vec<u8>, max: usize) -> io::Result<bool> {
        let mut buf = [0u8; 16384];
        loop {
            if input.len() >= max {
                return Ok(true);
            }
            // Never more than fits: what is read is never dropped (the owner may make room
            // and read on).
            let want = max.saturating_sub(input.len()).min(buf.len());
            match self.conn.reader().read(&mut buf[..want]) {
                Ok(0) => return Ok(true),
                Ok(n) => input.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // The peer closed without close_notify (common for HTTP): that is the end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Why `Session::read` stopped short.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed (a reset).
    Io(io::Error),
    /// The TLS stream failed (a fatal alert, a record that does not decrypt); what was
    /// decrypted before it has been read.
    Failed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A TLS failure as an operator needs to read it. Where OpenSSL (the Perl original's
/// IO::Socket::SSL) would have gone on, the message says what this build lacks: a real
/// that offers only RSA key exchange or CBC suites (`-cipher AES128-SHA`,
/// `ECDHE-RSA-AES128-SHA`) refuses our hello with a `handshake_failure` alert, and a
/// certificate chain over 64 KiB is more than rustls reads in one handshake message
/// (OpenSSL reads up to 100 KiB). rustls has neither and we add no OpenSSL, so the real is
/// down, as the message says. This build speaks TLS 1.3, and TLS 1.2 with ECDHE key
/// exchange and AES-GCM or ChaCha20-Poly1305 (rustls with ring); the message fits the
/// 200 bytes of a monitorfile line's server text.
fn explain(e: rustls::Error, handshaking: bool) -> String {
    use rustls::{AlertDescription, InvalidMessage};
    match e {
        rustls::Error::AlertReceived(
            a @ (AlertDescription::HandshakeFailure
            | AlertDescription::InsufficientSecurity
            | AlertDescription::ProtocolVersion),
        ) if handshaking => format!(
            "TLS handshake refused (alert {a:?}): the real offers only what this build does \
             not speak (RSA key exchange, CBC suites such as AES128-SHA, TLS < 1.2)"
        ),
        rustls::Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge) => {
            "TLS handshake message over 64 KiB (a certificate chain that long), which this \
             build does not read (OpenSSL reads up to 100 KiB)"
                .into()
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 certificate's outline: no `[0]` version, then serial, signature algorithm,
    /// issuer, validity, subject and the key info.
    fn v1_outline(with_version: bool) -> Vec<u8> {
        let mut tbs = Vec::new();
        if with_version {
            tbs.extend_from_slice(&[0xa0, 0x03, 0x02, 0x01, 0x02]);
        }
        tbs.extend_from_slice(&[0x02, 0x01, 0x07]); // serial
        tbs.extend_from_slice(&[0x30, 0x00]); // signature algorithm
        tbs.extend_from_slice(&[0x30, 0x00]); // issuer
        tbs.extend_from_slice(&[0x30, 0x00]); // validity
        tbs.extend_from_slice(&[0x30, 0x00]); // subject
        tbs.extend_from_slice(&[
            0x30, 0x09, 0x30, 0x02, 0x06, 0x00, 0x03, 0x03, 0x00, 0xab, 0xcd,
        ]);
        let mut tbs_seq = vec![0x30, u8::try_from(tbs.len()).unwrap_or(0)];
        tbs_seq.extend_from_slice(&tbs);
        let mut cert = vec![0x30, 0x81, u8::try_from(tbs_seq.len()).unwrap_or(0)];
        cert.extend_from_slice(&tbs_seq);
        cert
    }

    #[test]
    fn public_key_of_a_certificate_with_or_without_its_version() {
        for with_version in [false, true] {
            let cert = v1_outline(with_version);
            assert_eq!(
                public_key(&cert),
                Some((&[0x06u8, 0x00][..], &[0xabu8, 0xcd][..]))
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let cert = v1_outline(false);
        for end in 0..cert.len() {
            assert_eq!(public_key(&cert[..end]), None, "cut at {end}");
        }
        for b in 0..=255u8 {
            let mut c = cert.clone();
            for i in 0..c.len() {
                let keep = c[i];
                c[i] = b;
                let _ = public_key(&c);
                c[i] = keep;
            }
        }
        assert_eq!(der(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn a_refused_handshake_says_what_this_build_speaks() {
        use rustls::{AlertDescription, InvalidMessage};
        let m = explain(
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
            true,
        );
        assert!(
            m.contains("the real offers only what this build does not speak"),
            "{m}"
        );
        assert!(m.contains("AES128-SHA"), "{m}");
        // After the handshake the alert is only what it is.
        let m = explain(
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
            false,
        );
        assert_eq!(m, "received fatal alert: HandshakeFailure");
        let m = explain(
            rustls::Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge),
            true,
        );
        assert!(m.contains("over 64 KiB"), "{m}");
    }
}
