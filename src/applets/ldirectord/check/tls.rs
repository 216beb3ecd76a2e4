//! TLS for https, pops and imaps checks (rustls, ring backend). Like the original (LWP with
//! `verify_hostname => 0`, IO::Socket::SSL without verification), the server's certificate is
//! not verified — a health check asks "does it answer", not "is it who it claims" — but the
//! handshake signatures are.

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
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
}

impl Session {
    pub fn new(ip: IpAddr) -> io::Result<Session> {
        let conn = ClientConnection::new(config()?, ServerName::IpAddress(ip.into()))
            .map_err(io::Error::other)?;
        Ok(Session { conn })
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

    /// Sends queued TLS records until the socket would block.
    pub fn write_tls(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads records and appends the plaintext to `input` (up to `max`); true at EOF or once
    /// `max` is reached (the plain path's rule). The plaintext is drained after every record
    /// batch: rustls refuses to read more TLS ("received plaintext buffer full") while 16 KiB
    /// of it wait, which made every bigger page a failed check.
    pub fn read(
        &mut self,
        stream: &mut TcpStream,
        input: &mut Vec<u8>,
        max: usize,
    ) -> io::Result<bool> {
        loop {
            if self.drain(input, max)? {
                return Ok(true);
            }
            match self.conn.read_tls(stream) {
                Ok(0) => {
                    self.drain(input, max)?;
                    return Ok(true);
                }
                Ok(_) => {
                    self.conn.process_new_packets().map_err(io::Error::other)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
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
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    let room = max.saturating_sub(input.len());
                    input.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // The peer closed without close_notify (common for HTTP): that is the end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }
}
