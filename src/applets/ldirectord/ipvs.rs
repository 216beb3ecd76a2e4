//! Where ldirectord's IPVS changes go: the kernel over generic netlink (`Netlink`), or a
//! record file (`Record`, for hosts without IPVS: tests and the benchmark), chosen by the
//! environment variable `LDIRECTORD_IPVS_RECORD=FILE`.
//!
//! The record backend keeps the table in memory (so reconciliation sees its own changes) and
//! appends one line per change in ipvsadm's argument syntax, e.g.
//! `-a -t 198.51.100.10:80 -r 198.51.100.20:80 -g -w 1`, flushed at once. Lines someone
//! else appends in that syntax are applied to the table before the next change or listing,
//! as an administrator's ipvsadm is to the kernel's: `-C` (flush), `-D SERVICE`,
//! `-d SERVICE -r DEST` and `-e SERVICE -r DEST [-g|-m|-i] [-w N] [-x N] [-y N]`.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use crate::net::genl::{GenlError, GenlSocket};
use crate::wire::ipvs::{
    emit_dest_dump, emit_request, Command, Dest, FwdMethod, Service, ServiceKey, NLM_F_ACK,
    NLM_F_DUMP, NLM_F_REQUEST,
};

/// Environment variable selecting the record backend.
pub const RECORD_ENV: &str = "LDIRECTORD_IPVS_RECORD";

/// An IPVS change that failed.
#[derive(Debug)]
pub enum IpvsError {
    Genl(GenlError),
    Record(std::io::Error),
    /// The record backend refuses what the kernel would refuse (EEXIST / ENOENT).
    Exists,
    NotFound,
}

impl fmt::Display for IpvsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpvsError::Genl(e) => write!(f, "{e}"),
            IpvsError::Record(e) => write!(f, "record file: {e}"),
            IpvsError::Exists => write!(f, "already exists"),
            IpvsError::NotFound => write!(f, "no such service or destination"),
        }
    }
}

impl std::error::Error for IpvsError {}

/// The IPVS table operations ldirectord needs.
pub trait Director {
    fn add_service(&mut self, s: &Service) -> Result<(), IpvsError>;
    fn edit_service(&mut self, s: &Service) -> Result<(), IpvsError>;
    fn del_service(&mut self, s: &Service) -> Result<(), IpvsError>;
    fn add_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError>;
    fn edit_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError>;
    fn del_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError>;
    /// The whole table as it is now.
    fn list(&mut self) -> Result<Vec<(Service, Vec<Dest>)>, IpvsError>;
}

/// The kernel, over generic netlink family "IPVS".
pub struct Netlink {
    sock: GenlSocket,
}

impl Netlink {
    pub fn open() -> Result<Netlink, IpvsError> {
        GenlSocket::open("IPVS")
            .map(|sock| Netlink { sock })
            .map_err(IpvsError::Genl)
    }

    fn send(&mut self, cmd: Command, s: &Service, d: Option<&Dest>) -> Result<(), IpvsError> {
        self.sock
            .request(|fam, seq| emit_request(fam, seq, cmd, NLM_F_REQUEST | NLM_F_ACK, Some(s), d))
            .map(|_| ())
            .map_err(IpvsError::Genl)
    }
}

impl Director for Netlink {
    fn add_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.send(Command::NewService, s, None)
    }
    fn edit_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.send(Command::SetService, s, None)
    }
    fn del_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.send(Command::DelService, s, None)
    }
    fn add_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.send(Command::NewDest, s, Some(d))
    }
    fn edit_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.send(Command::SetDest, s, Some(d))
    }
    fn del_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.send(Command::DelDest, s, Some(d))
    }
    fn list(&mut self) -> Result<Vec<(Service, Vec<Dest>)>, IpvsError> {
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
        let replies = self
            .sock
            .request(|fam, seq| emit_request(fam, seq, Command::GetService, flags, None, None))
            .map_err(IpvsError::Genl)?;
        let mut out = Vec::new();
        for r in replies {
            let Some(Ok(svc)) = r.service() else { continue };
            let af = svc.key.af();
            let key = svc.key;
            let dests = self
                .sock
                .request(|fam, seq| emit_dest_dump(fam, seq, &key))
                .map_err(IpvsError::Genl)?
                .iter()
                .filter_map(|r| r.dest(af).and_then(Result::ok))
                .collect();
            out.push((svc, dests));
        }
        Ok(out)
    }
}

/// A file that records what would be programmed, plus the table it implies.
pub struct Record {
    file: File,
    table: Vec<(Service, Vec<Dest>)>,
    /// How much of the file has been written or read by this backend.
    seen: u64,
}

fn fwd_flag(f: FwdMethod) -> &'static str {
    match f {
        FwdMethod::Route => "-g",
        FwdMethod::Tunnel => "-i",
        FwdMethod::Masq => "-m",
        _ => "-g",
    }
}

fn dest_text(d: &Dest) -> String {
    match d.addr {
        IpAddr::V6(ip) => format!("[{ip}]:{}", d.port),
        IpAddr::V4(ip) => format!("{ip}:{}", d.port),
    }
}

fn service_text(s: &Service) -> String {
    let mut t = format!("{} -s {}", s.key, s.scheduler);
    if s.flags & crate::wire::ipvs::SVC_F_PERSISTENT != 0 {
        t.push_str(&format!(" -p {}", s.timeout));
    }
    t
}

impl Record {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> Result<Record, IpvsError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(IpvsError::Record)?;
        let seen = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Record {
            file,
            table: Vec::new(),
            seen,
        })
    }

    fn log(&mut self, line: String) -> Result<(), IpvsError> {
        writeln!(self.file, "{line}").map_err(IpvsError::Record)?;
        self.seen = self.file.metadata().map_err(IpvsError::Record)?.len();
        Ok(())
    }

    /// Applies the lines others appended since the last look (see the module's text; other
    /// lines are passed over).
    fn catch_up(&mut self) -> Result<(), IpvsError> {
        use std::io::{Read, Seek, SeekFrom};
        let len = self.file.metadata().map_err(IpvsError::Record)?.len();
        if len <= self.seen {
            return Ok(());
        }
        let mut f = self.file.try_clone().map_err(IpvsError::Record)?;
        f.seek(SeekFrom::Start(self.seen))
            .map_err(IpvsError::Record)?;
        let mut text = String::new();
        f.take(len - self.seen)
            .read_to_string(&mut text)
            .map_err(IpvsError::Record)?;
        self.seen = len;
        for line in text.lines() {
            self.apply_line(line.trim());
        }
        Ok(())
    }

    /// One administrator's line: `-C`, `-D SERVICE`, `-d SERVICE -r DEST` or `-e SERVICE -r
    /// DEST ...`; anything else (our own lines among them) is passed over.
    fn apply_line(&mut self, line: &str) {
        if line == "-C" {
            self.table.clear();
            return;
        }
        if let Some(svc) = line.strip_prefix("-D ") {
            self.table.retain(|(s, _)| s.key.to_string() != svc.trim());
            return;
        }
        let (edit, rest) = match (line.strip_prefix("-d "), line.strip_prefix("-e ")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return,
        };
        let Some((svc, rest)) = rest.split_once(" -r ") else {
            return;
        };
        let mut words = rest.split_whitespace();
        let Some(dest) = words.next() else { return };
        let Some(entry) = self
            .table
            .iter_mut()
            .find(|(s, _)| s.key.to_string() == svc.trim())
        else {
            return;
        };
        if !edit {
            entry.1.retain(|d| dest_text(d) != dest);
            return;
        }
        let Some(d) = entry.1.iter_mut().find(|d| dest_text(d) == dest) else {
            return;
        };
        while let Some(flag) = words.next() {
            match flag {
                "-g" => d.fwd = FwdMethod::Route,
                "-m" => d.fwd = FwdMethod::Masq,
                "-i" => d.fwd = FwdMethod::Tunnel,
                "-w" | "-x" | "-y" => {
                    let Some(n) = words.next().and_then(|n| n.parse().ok()) else {
                        return;
                    };
                    match flag {
                        "-w" => d.weight = n,
                        "-x" => d.u_thresh = n,
                        _ => d.l_thresh = n,
                    }
                }
                _ => {}
            }
        }
    }

    fn find(&mut self, key: &ServiceKey) -> Option<&mut (Service, Vec<Dest>)> {
        self.table.iter_mut().find(|(s, _)| s.key == *key)
    }
}

impl Director for Record {
    fn add_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.catch_up()?;
        if self.find(&s.key).is_some() {
            return Err(IpvsError::Exists);
        }
        self.table.push((s.clone(), Vec::new()));
        self.log(format!("-A {}", service_text(s)))
    }
    fn edit_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.catch_up()?;
        let entry = self.find(&s.key).ok_or(IpvsError::NotFound)?;
        entry.0 = s.clone();
        self.log(format!("-E {}", service_text(s)))
    }
    fn del_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.catch_up()?;
        let before = self.table.len();
        self.table.retain(|(t, _)| t.key != s.key);
        if self.table.len() == before {
            return Err(IpvsError::NotFound);
        }
        self.log(format!("-D {}", s.key))
    }
    fn add_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.catch_up()?;
        let entry = self.find(&s.key).ok_or(IpvsError::NotFound)?;
        if entry.1.iter().any(|o| o.same_place(d)) {
            return Err(IpvsError::Exists);
        }
        entry.1.push(d.clone());
        let line = format!(
            "-a {} -r {} {} -w {} -x {} -y {}",
            s.key,
            dest_text(d),
            fwd_flag(d.fwd),
            d.weight,
            d.u_thresh,
            d.l_thresh
        );
        self.log(line)
    }
    fn edit_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.catch_up()?;
        let entry = self.find(&s.key).ok_or(IpvsError::NotFound)?;
        let slot = entry
            .1
            .iter_mut()
            .find(|o| o.same_place(d))
            .ok_or(IpvsError::NotFound)?;
        *slot = d.clone();
        let line = format!(
            "-e {} -r {} {} -w {} -x {} -y {}",
            s.key,
            dest_text(d),
            fwd_flag(d.fwd),
            d.weight,
            d.u_thresh,
            d.l_thresh
        );
        self.log(line)
    }
    fn del_dest(&mut self, s: &Service, d: &Dest) -> Result<(), IpvsError> {
        self.catch_up()?;
        let entry = self.find(&s.key).ok_or(IpvsError::NotFound)?;
        let before = entry.1.len();
        entry.1.retain(|o| !o.same_place(d));
        if entry.1.len() == before {
            return Err(IpvsError::NotFound);
        }
        self.log(format!("-d {} -r {}", s.key, dest_text(d)))
    }
    fn list(&mut self) -> Result<Vec<(Service, Vec<Dest>)>, IpvsError> {
        self.catch_up()?;
        Ok(self.table.clone())
    }
}

/// The backend the environment asks for: the record file if `LDIRECTORD_IPVS_RECORD` is set,
/// else the kernel.
pub fn open_from_env() -> Result<Box<dyn Director>, IpvsError> {
    match std::env::var_os(RECORD_ENV) {
        Some(path) if !path.is_empty() => Ok(Box::new(Record::open(Path::new(&path))?)),
        _ => Ok(Box::new(Netlink::open()?)),
    }
}
