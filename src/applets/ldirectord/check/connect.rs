//! checktype=connect: a TCP connect to the real's check port, closed at once, no data
//! (bounded by checktimeout).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use super::{connect_finished, connect_nonblocking, Check, Poll};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;

/// A connect in progress.
pub struct Connect {
    stream: TcpStream,
}

impl Connect {
    pub fn start(addr: SocketAddr) -> io::Result<Connect> {
        Ok(Connect {
            stream: connect_nonblocking(addr)?,
        })
    }
}

impl Check for Connect {
    fn fd(&self) -> Option<RawFd> {
        Some(self.stream.as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        match connect_finished(&self.stream) {
            Ok(true) => Poll::Ready(Outcome::Up("connected".into())),
            Ok(false) => Poll::Wait(Interest::Write),
            Err(e) => Poll::Ready(Outcome::Down(format!("connect: {e}"))),
        }
    }
}
