//! The running ifcheckd: one event loop over the ring source (pikemon's path file polled by
//! stat, or corosync-cmapctl children read through pipes), rtnetlink link events and
//! SIGTERM/SIGINT (SIGCHLD: a child ended); the tracker decides, this file
//! publishes and logs (the original's texts).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::attrd::{self, AttrdQueue};
use super::ring_names::{Resolution, RingNames};
use super::tracker::{self, Action, Input, OnLoss, RingTracker};
use super::RING_NAME_REFRESH;
use super::STATE_FLUSH_LIMIT;
use super::{attributes, corosync, pikemon, Options, Source};
use super::{ATTRD_LIMIT, COROSYNC_LIMIT, COROSYNC_POLL, PIKEMON_POLL, PIKEMON_STALE};

/// How often attribute changes attrd refused are offered again.
const ATTRD_RETRY: Duration = Duration::from_secs(1);
/// How often every attribute is set again: a restarted Pacemaker (or attrd) has lost them.
const ATTRD_REFRESH: Duration = Duration::from_secs(10);
use crate::event::{Event, EventLoop, TimerId, Token};
use crate::net::rtnl::{Rtnl, RtnlEvent, RtnlMonitor};

const TOKEN_POLL: Token = Token(1);
const TOKEN_COROSYNC: Token = Token(2);
const TOKEN_RTNL: Token = Token(3);
const TOKEN_ATTRD: Token = Token(4);

/// The running daemon: event loop, source, tracker and where attributes go.
pub(super) struct Daemon {
    ev: EventLoop,
    tracker: RingTracker,
    source: Source,
    state_file: PathBuf,
    /// Writes the state file off the loop: the fsync of `write_atomic` took up to 0.9 s on a
    /// busy disk, and the loop waiting for it let ring and carrier changes wait as long.
    files: crate::sys::file::Writer,
    node: String,
    attrd: AttrdQueue,
    /// The attrd call's fd in the poll set and its timer, as last registered.
    attrd_fd: Option<std::os::fd::RawFd>,
    attrd_timer: Option<(Instant, TimerId)>,
    /// (mtime, inode, length) of the path file last read.
    seen: Option<(SystemTime, u64, u64)>,
    poll: Option<(corosync::Poll, Instant)>,
    /// The last corosync-cmapctl start failure said (a missing tool is said once, at warning
    /// level; Corosync not up yet stays a debug message, as the original's retries).
    cmapctl_error: Option<std::io::ErrorKind>,
    /// Why the last corosync-cmapctl output was refused (warned once, until a good poll).
    cmapctl_refused: Option<String>,
    /// Link carrier: change events, and requests for dumps and address lookups.
    monitor: Option<RtnlMonitor>,
    rtnl: Option<Rtnl>,
    /// Monitoring has started once (later starts are "after ... restarted").
    started: bool,
    /// Corosync rings given by host name, resolved off the loop.
    ring_names: RingNames,
    /// What was last said about a ring without an address (said again only when it changes).
    ring_name_said: BTreeMap<u32, String>,
}

impl Daemon {
    pub(super) fn new(opts: &Options) -> Result<Daemon, String> {
        let mut ev = EventLoop::new();
        // SIGCHLD: an attrd_updater call or a corosync-cmapctl ended (its pipe may have
        // closed before). SIGHUP, SIGUSR1, SIGUSR2 are watched to be ignored: their default
        // action ended the daemon without cleanup, its rings left UP for nobody to watch.
        ev.watch_signals(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGCHLD,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ])
        .map_err(|e| format!("signals: {e}"))?;
        let files = crate::sys::file::Writer::spawn("ifcheckd-files")
            .map_err(|e| format!("state file writer thread: {e}"))?;
        let on_loss = match opts.source {
            Source::Pikemon(_) => OnLoss::Faulty,
            Source::Corosync => OnLoss::Withdraw,
        };
        let attrd = attrd::attrd_updater();
        if attrd.is_none() {
            log::debug!("attrd_updater not installed: attributes go to the state file only");
        }
        Ok(Daemon {
            ev,
            tracker: RingTracker::new(PIKEMON_STALE, on_loss),
            source: opts.source.clone(),
            state_file: opts.state_file.clone(),
            files,
            node: node_name(),
            attrd: AttrdQueue::new(attrd, ATTRD_LIMIT, ATTRD_RETRY, ATTRD_REFRESH),
            attrd_fd: None,
            attrd_timer: None,
            seen: None,
            poll: None,
            cmapctl_error: None,
            cmapctl_refused: None,
            monitor: None,
            rtnl: None,
            started: false,
            ring_names: RingNames::new(RING_NAME_REFRESH, crate::sys::addrinfo::lookup),
            ring_name_said: BTreeMap::new(),
        })
    }

    /// Subscribes to link changes and learns every link's carrier. Without rtnetlink the
    /// daemon still works from its source alone.
    fn watch_links(&mut self) {
        match (RtnlMonitor::open(), Rtnl::open()) {
            (Ok(monitor), Ok(rtnl)) => {
                self.ev.register(
                    crate::event::raw(&monitor),
                    TOKEN_RTNL,
                    crate::event::Interest::Read,
                );
                self.monitor = Some(monitor);
                self.rtnl = Some(rtnl);
                self.load_links();
            }
            (Err(e), _) | (_, Err(e)) => {
                log::warn!("link carrier is not watched: {e}");
            }
        }
    }

    fn load_links(&mut self) {
        let links = match self.rtnl.as_mut().map(|r| r.links()) {
            Some(Ok(links)) => links,
            Some(Err(e)) => {
                log::warn!("{e}");
                return;
            }
            None => return,
        };
        for l in links {
            let up = l.has_carrier();
            self.feed(Input::Carrier { ifname: l.name, up });
        }
    }

    fn rtnl_readable(&mut self) {
        let events = match self.monitor.as_mut().map(|m| m.recv()) {
            Some(Ok(events)) => events,
            Some(Err(e)) => {
                log::warn!("{e}");
                return;
            }
            None => return,
        };
        for e in events {
            match e {
                RtnlEvent::Link(l) => {
                    let up = l.has_carrier();
                    log::debug!("{}: carrier {}", l.name, if up { "up" } else { "down" });
                    self.feed(Input::Carrier { ifname: l.name, up });
                }
                RtnlEvent::LinkRemoved(l) => self.feed(Input::Carrier {
                    ifname: l.name,
                    up: false,
                }),
                RtnlEvent::Overrun => self.load_links(),
                RtnlEvent::AddressAdded(_) | RtnlEvent::AddressRemoved(_) => {}
            }
        }
    }

    /// This node's addresses with their interface index (None without rtnetlink).
    fn local_addresses(&mut self) -> Option<Vec<(IpAddr, u32)>> {
        let rtnl = self.rtnl.as_mut()?;
        let v4 = rtnl.addresses(None).ok()?;
        let v6 = rtnl.addresses6(None).ok()?;
        Some(
            v4.iter()
                .map(|a| (IpAddr::V4(a.address), a.index))
                .chain(v6.iter().map(|a| (IpAddr::V6(a.address), a.index)))
                .collect(),
        )
    }

    /// A ring given by host name (`ringN_addr: fw-a`) gets the name's address configured here,
    /// so that the attribute reads `ADDR is UP` and the ring's carrier counts. A ring whose
    /// name is being looked up for the first time is left out of this report; one without an
    /// address keeps the name, and the log says why.
    fn resolve_ring_names(
        &mut self,
        rings: &mut Vec<tracker::RingReport>,
        local: Option<&[(IpAddr, u32)]>,
    ) {
        let named: Vec<String> = rings
            .iter()
            .filter(|r| r.addr.parse::<IpAddr>().is_err())
            .map(|r| r.addr.clone())
            .collect();
        if named.is_empty() {
            return;
        }
        self.ring_names
            .refresh(Instant::now(), named.iter().map(String::as_str));
        let local: Option<Vec<IpAddr>> = local.map(|l| l.iter().map(|(a, _)| *a).collect());
        let mut keep = Vec::with_capacity(rings.len());
        for mut r in rings.drain(..) {
            if r.addr.parse::<IpAddr>().is_ok() {
                keep.push(r);
                continue;
            }
            match self.ring_names.lookup(&r.addr, local.as_deref()) {
                Resolution::Local(a) => {
                    if self.ring_name_said.remove(&r.ring).is_some() {
                        log::info!("ring {}: ring{}_addr {} is {a}", r.ring, r.ring, r.addr);
                    }
                    r.addr = a.to_string();
                    keep.push(r);
                }
                Resolution::Pending => {
                    log::debug!("ring {}: resolving ring{}_addr {}", r.ring, r.ring, r.addr)
                }
                Resolution::Missing(why) => {
                    if self.ring_name_said.get(&r.ring) != Some(&why) {
                        log::warn!(
                            "ring {}: no local address for ring{}_addr ({why}): the attribute \
                             shows the name and the ring's carrier is not watched",
                            r.ring,
                            r.ring
                        );
                        self.ring_name_said.insert(r.ring, why);
                    }
                    keep.push(r);
                }
            }
        }
        *rings = keep;
    }

    /// Corosync names rings by address: find the interface carrying each one.
    fn name_interfaces(
        &mut self,
        rings: &mut [tracker::RingReport],
        local: Option<&[(IpAddr, u32)]>,
    ) {
        let (Some(local), Some(rtnl)) = (local, self.rtnl.as_mut()) else {
            return;
        };
        let Ok(links) = rtnl.links() else {
            return;
        };
        for r in rings.iter_mut().filter(|r| r.ifname.is_none()) {
            let index = local
                .iter()
                .find(|(a, _)| a.to_string() == r.addr)
                .map(|(_, i)| *i);
            r.ifname =
                index.and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone()));
        }
    }

    pub(super) fn run(&mut self) -> Result<(), String> {
        let interval = match self.source {
            Source::Pikemon(_) => PIKEMON_POLL,
            Source::Corosync => COROSYNC_POLL,
        };
        self.watch_links();
        self.ev.set_timer_in(Duration::ZERO, TOKEN_POLL);
        let mut events = Vec::new();
        loop {
            if let Err(e) = self.ev.wait(&mut events, None) {
                // The last state written whole before the process ends.
                self.files.flush(STATE_FLUSH_LIMIT);
                return Err(format!("event loop: {e}"));
            }
            for e in events.clone() {
                match e {
                    Event::Signal(libc::SIGCHLD) => {
                        self.attrd.progress(Instant::now());
                        self.watch_attrd();
                        self.corosync_readable();
                    }
                    Event::Signal(sig @ (libc::SIGHUP | libc::SIGUSR1 | libc::SIGUSR2)) => {
                        log::info!(
                            "{} ignored (ifcheckd has nothing to reload; SIGTERM stops it)",
                            nix::sys::signal::Signal::try_from(sig)
                                .map_or("signal", |s| s.as_str())
                        );
                    }
                    Event::Signal(sig) => {
                        log::debug!("mainloop shutdown. SIGNAL is {sig}");
                        self.finish();
                        return Ok(());
                    }
                    Event::Timer(TOKEN_POLL, _) => {
                        self.poll_source();
                        self.ev.set_timer_in(interval, TOKEN_POLL);
                    }
                    Event::Readable(TOKEN_ATTRD) | Event::Timer(TOKEN_ATTRD, _) => {
                        if let Event::Timer(..) = e {
                            self.attrd_timer = None;
                        }
                        self.attrd.progress(Instant::now());
                        self.watch_attrd();
                    }
                    Event::Readable(TOKEN_COROSYNC) => self.corosync_readable(),
                    Event::Readable(TOKEN_RTNL) => self.rtnl_readable(),
                    _ => {}
                }
            }
        }
    }

    fn feed(&mut self, input: Input) {
        let actions = self.tracker.handle(Instant::now(), input);
        if actions.is_empty() {
            return;
        }
        let mut changed = Vec::new();
        for a in actions {
            match a {
                Action::Monitoring { active: true } if !self.started => {
                    self.started = true;
                    log::info!("Start to monitor interface");
                }
                Action::Monitoring { active: true } => {
                    log::info!(
                        "Start to monitor interface after {} restarted",
                        self.source_name()
                    )
                }
                Action::Monitoring { active: false } => match self.source {
                    Source::Pikemon(_) => log::info!(
                        "Stop monitoring interface. pikemon's heart-beat path file is stale or gone"
                    ),
                    Source::Corosync => {
                        log::info!("Stop monitoring interface. cmap connection is destroyed")
                    }
                },
                Action::Publish { ring, state, value } => {
                    changed.push((ring, Some((state, value))))
                }
                Action::Withdraw { ring } => changed.push((ring, None)),
            }
        }
        // The state file first: it is the record `ifcheckd -s` reads; attrd calls take their
        // time (or fail and are retried once a second, as the original retried its
        // initialisation: Pacemaker may start after us) while the loop goes on.
        self.write_state();
        for (ring, change) in changed {
            self.attrd.set(Instant::now(), ring, change);
        }
        self.watch_attrd();
    }

    /// Puts the running attrd call's fd in the poll set (and takes a finished one out) and arms
    /// the queue's next deadline.
    fn watch_attrd(&mut self) {
        let fd = self.attrd.fd();
        if fd != self.attrd_fd {
            if let Some(old) = self.attrd_fd.take() {
                self.ev.deregister(old);
            }
            if let Some(new) = fd {
                self.ev
                    .register(new, TOKEN_ATTRD, crate::event::Interest::Read);
            }
            self.attrd_fd = fd;
        }
        let due = self.attrd.next_deadline();
        if due != self.attrd_timer.map(|(at, _)| at) {
            if let Some((_, id)) = self.attrd_timer.take() {
                self.ev.cancel_timer(id);
            }
            if let Some(at) = due {
                self.attrd_timer = Some((at, self.ev.set_timer(at, TOKEN_ATTRD)));
            }
        }
    }

    fn source_name(&self) -> &'static str {
        match self.source {
            Source::Pikemon(_) => "pikemon",
            Source::Corosync => "corosync",
        }
    }

    fn write_state(&self) {
        let attrs: BTreeMap<u32, String> = self
            .tracker
            .published()
            .map(|(r, v)| (*r, v.clone()))
            .collect();
        self.files.write(
            &self.state_file,
            attributes::render(&self.node, &attrs).into_bytes(),
            log::Level::Error,
        );
    }

    fn poll_source(&mut self) {
        match self.source.clone() {
            Source::Pikemon(path) => self.poll_pikemon(&path),
            Source::Corosync => self.poll_corosync(),
        }
    }

    fn poll_pikemon(&mut self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(_) => {
                if self.seen.take().is_some() {
                    log::debug!("{} is gone", path.display());
                    self.feed(Input::SourceLost);
                } else {
                    self.feed(Input::Tick);
                }
                return;
            }
        };
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let id = (mtime, meta.ino(), meta.len());
        if self.seen == Some(id) {
            self.feed(Input::Tick);
            return;
        }
        // Once per version of the file, also when it cannot be read (no log flood).
        self.seen = Some(id);
        let text = match super::read_regular(path) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("{}: {e}", path.display());
                self.feed(Input::Tick);
                return;
            }
        };
        let (rings, errors) = pikemon::parse(&path.display().to_string(), &text);
        for e in errors {
            log::warn!("{e}");
        }
        let age = SystemTime::now().duration_since(mtime).unwrap_or_default();
        self.feed(Input::Report { rings, age });
    }

    fn poll_corosync(&mut self) {
        if let Some((poll, started)) = self.poll.take() {
            if started.elapsed() < COROSYNC_LIMIT {
                self.poll = Some((poll, started));
                return;
            }
            if let Some(fd) = poll.fd() {
                self.ev.deregister(fd);
            }
            poll.abort();
            self.feed(Input::SourceLost);
        }
        match corosync::Poll::start("corosync-cmapctl") {
            Ok(p) => {
                if let Some(fd) = p.fd() {
                    self.ev
                        .register(fd, TOKEN_COROSYNC, crate::event::Interest::Read);
                }
                self.poll = Some((p, Instant::now()));
                self.cmapctl_error = None;
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::NotFound && self.cmapctl_error != Some(e.kind())
                {
                    log::warn!("corosync-cmapctl not found ({e}): no ring state until installed");
                } else {
                    log::debug!("corosync-cmapctl: {e}");
                }
                self.cmapctl_error = Some(e.kind());
                self.feed(Input::SourceLost);
            }
        }
    }

    fn corosync_readable(&mut self) {
        let Some((mut poll, started)) = self.poll.take() else {
            return;
        };
        let old_fd = poll.fd();
        match poll.readable() {
            None => {
                if poll.fd() != old_fd {
                    if let Some(old) = old_fd {
                        self.ev.deregister(old);
                    }
                    if let Some(new) = poll.fd() {
                        self.ev
                            .register(new, TOKEN_COROSYNC, crate::event::Interest::Read);
                    }
                }
                self.poll = Some((poll, started));
            }
            Some(result) => {
                if let Some(old) = old_fd {
                    self.ev.deregister(old);
                }
                match result {
                    corosync::PollResult::Rings(mut rings, taken) => {
                        self.cmapctl_refused = None;
                        let local = self.local_addresses();
                        self.resolve_ring_names(&mut rings, local.as_deref());
                        self.name_interfaces(&mut rings, local.as_deref());
                        self.feed(Input::Report {
                            rings,
                            age: taken.elapsed(),
                        })
                    }
                    corosync::PollResult::Lost(why) => {
                        log::debug!("{why}");
                        self.feed(Input::SourceLost);
                    }
                    corosync::PollResult::Refused(why) => {
                        if self.cmapctl_refused.as_ref() != Some(&why) {
                            log::warn!("{why}: refused, no ring state from it");
                        }
                        self.cmapctl_refused = Some(why);
                        self.feed(Input::SourceLost);
                    }
                }
            }
        }
    }

    /// SIGTERM/SIGINT: delete every attribute, remove the state file (through the writer
    /// thread, after any write still queued there, and waited for).
    fn finish(&mut self) {
        self.files.remove(&self.state_file);
        if let Some((poll, _)) = self.poll.take() {
            if let Some(fd) = poll.fd() {
                self.ev.deregister(fd);
            }
            poll.abort();
        }
        if let Some(fd) = self.attrd_fd.take() {
            self.ev.deregister(fd);
        }
        let rings: Vec<u32> = self.tracker.published().map(|(r, _)| *r).collect();
        self.attrd.delete_all(&rings);
        if !self.files.flush(STATE_FLUSH_LIMIT) {
            log::warn!(
                "{}: not removed within {} ms (the disk is busy)",
                self.state_file.display(),
                STATE_FLUSH_LIMIT.as_millis()
            );
        }
    }
}

/// This node's name as Pacemaker knows it (`crm_node -n`), else the kernel's node name.
fn node_name() -> String {
    let crm = std::process::Command::new("crm_node")
        .arg("-n")
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(out) = crm {
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !name.is_empty() {
            return name;
        }
    }
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into())
}
