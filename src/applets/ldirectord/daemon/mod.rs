//! The running daemon: one poll loop that starts the checks the core asks for, bounds each
//! by its timeout, applies the core's IPVS changes, and handles TERM (stop), HUP (reload),
//! CHLD (external checks), autoreload, maintenancedir, monitorfile, fallbackcommand,
//! callback and e-mail alerts (delivered as jobs too: alert_delivery). Nothing here blocks
//! except the kernel's netlink answers.
//!
//! `jobs` holds the checks and mails in flight and the one dispatch of their events (the
//! running loop and the stop's wait both use it); `mailq` the alerts waiting for a mail
//! slot; `stop` the stop sequence; `monitor` the monitorfile lines.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::alert::Message;
use super::alert_delivery::{SendmailDelivery, SmtpDelivery};
use super::check::conn::MAX_SPARES;
use super::check::{self, Check};
use super::check_slots::{cap_for, CheckSlots, MAX_CHECKS, RESERVED_FILES};
use super::config::{Config, Rejected, Virtual};
use super::config_watch::{fingerprint, ConfigWatch, Version};
use super::core::{dest_name, Action, Core, Input, IpvsOp, Outcome, Probe, RealId};
use super::ipvs::{Director, IpvsError};
use super::resolve::SystemResolver;
use super::server_text::printable;
use crate::event::EventLoop;
use crate::net::genl::GenlError;

mod jobs;
mod mailq;
mod monitor;
mod stop;

pub use monitor::monitor_line;

use jobs::{Job, Running};
use mailq::{MailQueue, MAIL_QUEUE_CAP};

/// First token used for checks and mails; lower ones are reserved.
const FIRST_TOKEN: usize = 16;
/// How long an e-mail may take.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the config file is looked at (the original: once per loop).
const CONFIG_LOOK_INTERVAL: Duration = Duration::from_secs(1);
/// The open-files limit assumed when it cannot be read.
const DEFAULT_OPEN_FILES: u64 = 1024;
/// The most e-mail alerts being sent at once; more wait in `mail_queue` (bounded: past
/// MAIL_QUEUE_CAP they are dropped, and counted in the log). Mails to an smtp host that
/// never answers each take MAIL_TIMEOUT: with emailalertfreq=1 and 40 reals down, 1,200 were
/// in flight, and as they held the check slots, no check ran any more (a dead real stayed in
/// the table). Mails have slots of their own now, and few.
const MAX_MAILS_IN_FLIGHT: usize = 16;

/// The daemon's whole state.
pub struct Daemon {
    core: Core,
    ipvs: Box<dyn Director>,
    ev: EventLoop,
    running: HashMap<usize, Running>,
    /// How many of `running` are mails (the rest are checks).
    mails: usize,
    /// The alerts waiting for one of the MAX_MAILS_IN_FLIGHT slots.
    mail_queue: MailQueue<QueuedMail>,
    /// The checks in flight and those waiting for a slot (their number follows the
    /// open-files limit: each check holds a socket).
    slots: CheckSlots,
    /// The open files the checks and their spare sockets share (the limit less
    /// RESERVED_FILES).
    check_files: usize,
    next_token: usize,
    config_path: PathBuf,
    config_watch: ConfigWatch,
    /// When the config file is looked at next.
    next_config_look: Instant,
    /// Where the grid of paced reads starts (see `check::on_grid`).
    pace_epoch: Instant,
    host: String,
    /// The core's actions, kept from one `react` to the next.
    actions: Vec<Action>,
}

/// The most actions whose vector `react` keeps (120 bytes each): a tick's burst of
/// starts (300 of them at N=1000, checkinterval=1) grew a new vector to 32 KiB every time,
/// which musl's allocator mapped, faulted in and unmapped again, 120 times a second. The
/// start-up's one burst of every real is let go.
const KEEP_ACTIONS: usize = 1024;

/// The config file's version now (None when it cannot be stat'ed); its fingerprint is None
/// when it cannot be read.
fn version(path: &Path) -> Option<Version> {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let fingerprint = std::fs::read_to_string(path).ok().map(|t| fingerprint(&t));
    Some(Version { mtime, fingerprint })
}

/// Why a config file was not loaded.
#[derive(Debug)]
pub enum LoadError {
    Unreadable(PathBuf, std::io::Error),
    Rejected(Rejected),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable(path, e) => write!(f, "{}: {e}", path.display()),
            LoadError::Rejected(r) => write!(f, "{r}"),
        }
    }
}

/// Reads and parses the config at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::Unreadable(path.to_path_buf(), e))?;
    let file = path.to_string_lossy();
    let text =
        super::config::text_of(&file, bytes).map_err(|e| LoadError::Rejected(Rejected::from(e)))?;
    super::config::parse(&file, &text, &SystemResolver).map_err(LoadError::Rejected)
}

/// Logs the config's warnings. Not done by `load`: at start it runs before the log is set
/// up, and every warning of the starting config was lost.
pub fn log_warnings(cfg: &Config) {
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
}

/// Runs `command` through /bin/sh without waiting (children are reaped on SIGCHLD).
fn spawn_shell(command: &str) {
    match Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => check::external::adopt(child),
        Err(e) => log::error!("{command}: {e}"),
    }
}

fn errno_of(e: &IpvsError) -> Option<i32> {
    match e {
        IpvsError::Genl(GenlError::Kernel(n)) => Some(*n),
        IpvsError::Exists => Some(libc::EEXIST),
        IpvsError::NotFound => Some(libc::ENOENT),
        _ => None,
    }
}

/// Blocks the signals that stop (TERM, INT, QUIT) or reload (HUP) the daemon, from before
/// its pid file is taken until `Daemon::new` catches them. `status` says running, and
/// `reload` and `stop` signal the daemon, from the moment the file is locked; a HUP that
/// came before the loop caught it killed the daemon (default action) without a line in the
/// log. Held, it is acted on once caught.
pub fn hold_signals() {
    set_held_signals(nix::sys::signal::SigmaskHow::SIG_BLOCK);
}

fn set_held_signals(how: nix::sys::signal::SigmaskHow) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
    ] {
        set.add(sig);
    }
    if let Err(e) = nix::sys::signal::pthread_sigmask(how, Some(&set), None) {
        log::warn!("signal mask: {e}");
    }
}

impl Daemon {
    /// Reconciles the kernel table with `cfg` and prepares the loop.
    pub fn new(
        cfg: Config,
        config_path: PathBuf,
        mut ipvs: Box<dyn Director>,
    ) -> Result<Daemon, String> {
        let table = ipvs
            .list()
            .map_err(|e| format!("reading the IPVS table: {e}"))?;
        let now = Instant::now();
        let (core, actions) = Core::new(cfg, &table, now);
        let mut ev = EventLoop::new();
        ev.watch_signals(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGCHLD,
        ])
        .map_err(|e| format!("signals: {e}"))?;
        // Caught now: what `hold_signals` kept pending is delivered (a reload, a stop).
        set_held_signals(nix::sys::signal::SigmaskHow::SIG_UNBLOCK);
        // Each check holds a socket: 1000 reals due at start-up open 1000 at once. The soft
        // limit (often 1024) is raised towards what the most checks need (two files each at
        // worst, as ftp's) and the spare sockets, up to the hard one.
        let want = 2 * MAX_CHECKS as u64 + RESERVED_FILES + MAX_SPARES as u64;
        let open_files = match crate::sys::rlimit::raise_open_files(want) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("open files limit (RLIMIT_NOFILE): {e}");
                DEFAULT_OPEN_FILES
            }
        };
        let slots = CheckSlots::new(cap_for(open_files));
        let check_files =
            usize::try_from(open_files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
        if slots.cap() < MAX_CHECKS {
            log::info!(
                "At most {} checks at once (open files limit {open_files})",
                slots.cap()
            );
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let mut d = Daemon {
            core,
            ipvs,
            ev,
            running: HashMap::new(),
            mails: 0,
            mail_queue: MailQueue::new(MAIL_QUEUE_CAP),
            slots,
            check_files,
            next_token: FIRST_TOKEN,
            config_watch: ConfigWatch::new(version(&config_path)),
            next_config_look: now + CONFIG_LOOK_INTERVAL,
            pace_epoch: now,
            config_path,
            host,
            actions: Vec::new(),
        };
        check::conn::spare_targets(d.check_targets());
        d.apply(actions);
        Ok(d)
    }

    /// Runs until TERM/INT/QUIT; returns after the clean stop.
    pub fn run(&mut self) {
        let mut events = Vec::new();
        loop {
            let now = Instant::now();
            if self.core.next_deadline().is_some_and(|d| d <= now) {
                self.react(now, Input::Tick);
            }
            self.start_queued();
            self.send_queued_mails();
            // At least once a second: the config file is looked at whatever autoreload says.
            let wait = self
                .core
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(CONFIG_LOOK_INTERVAL)
                .min(CONFIG_LOOK_INTERVAL);
            events.clear();
            if let Err(e) = self.ev.wait(&mut events, Some(wait)) {
                log::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            for ev in events.drain(..) {
                match self.io_event(ev) {
                    Some(libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) => {
                        self.stop();
                        return;
                    }
                    Some(libc::SIGHUP) => {
                        // An edit not seen yet still gets its callback.
                        let changed = self.config_file_changed();
                        self.reload("SIGHUP");
                        if changed {
                            self.callback();
                        }
                    }
                    Some(_) | None => {}
                }
            }
            if Instant::now() >= self.next_config_look {
                self.next_config_look = Instant::now() + CONFIG_LOOK_INTERVAL;
                self.watch_config();
            }
        }
    }

    /// Starts waiting checks while `slots` allows (see check_slots for the order), and says
    /// when checks started late. Only the loop calls it: a check that ends at once (refused)
    /// frees its slot for the next round, and nothing here recurses.
    fn start_queued(&mut self) {
        let now = Instant::now();
        loop {
            let cfg = self.core.config();
            let interval = |id: RealId| {
                let secs = cfg.virtuals.get(id.virt).map_or(1, |v| v.checkinterval);
                Duration::from_secs(u64::from(secs.max(1)))
            };
            let Some(w) = self.slots.next(now, interval) else {
                break;
            };
            self.start_check(w.id, w.probe);
        }
        if let Some(line) = self.slots.late_report(now) {
            log::warn!("{line}");
        }
    }

    /// Starts the check of `id` in its slot (taken), or, for a real in maintenancedir,
    /// reports it down at once and frees the slot.
    fn start_check(&mut self, id: RealId, probe: Probe) {
        // Spare sockets take only files no check may need: each check in flight (this one
        // counted) may hold two at once (ftp's control and data connections, a redirect's
        // next hop, dns's fallback to TCP).
        let free = self
            .check_files
            .saturating_sub(2 * self.slots.in_flight())
            .min(MAX_SPARES);
        check::conn::limit_spares(free);
        // Borrowed, not cloned: a copy of the virtual (all its reals) per check was 40 % of
        // the daemon's CPU at 1000 reals (bench/ldirectord).
        let started = {
            let v = &self.core.config().virtuals[id.virt];
            if self.in_maintenance(v, id) {
                None
            } else {
                let secs = match probe {
                    Probe::Negotiate => v.negotiate_timeout(),
                    Probe::Ping => v.checktimeout.saturating_mul(v.checkcount.max(1)),
                    Probe::Connect | Probe::External => v.checktimeout,
                };
                Some((check::build(v, &v.reals[id.real], probe, &self.host), secs))
            }
        };
        match started {
            Some((c, secs)) => self.launch(
                Job::Check(id),
                c,
                Duration::from_secs(u64::from(secs.max(1))),
            ),
            None => {
                self.slots.release(id);
                self.record(id, false);
                self.react(Instant::now(), Input::Done(id, Outcome::Maintenance));
            }
        }
    }

    /// The original's check_cfgfile, on every loop whatever autoreload says: a changed file
    /// is reloaded with autoreload=yes, and runs the callback either way (man page:
    /// "calls the executable after the configuration file has changed on disk").
    fn watch_config(&mut self) {
        if !self.config_file_changed() {
            return;
        }
        if self.core.config().globals.autoreload {
            self.reload("configuration file changed");
        } else {
            log::info!(
                "Configuration file {} has changed on disk: autoreload=no, not reloaded",
                self.config_path.display()
            );
        }
        self.callback();
    }

    /// Whether the config file changed since last seen: a newer mtime, then other content
    /// (or none that can be read). Each version is judged once.
    fn config_file_changed(&mut self) -> bool {
        let mtime = std::fs::metadata(&self.config_path).and_then(|m| m.modified());
        if !self.config_watch.is_new(mtime.ok()) {
            return false;
        }
        match version(&self.config_path) {
            Some(v) => self.config_watch.judge(v),
            None => false,
        }
    }

    /// Runs `callback CONFIG` (the running config's) without waiting.
    fn callback(&self) {
        if let Some(cb) = &self.core.config().globals.callback {
            spawn_shell(&format!("{cb} {}", self.config_path.display()));
        }
    }

    /// Re-reads the config; a broken one is reported and the running one kept whole (B2).
    fn reload(&mut self, why: &str) {
        log::info!("Reloading configuration ({why})");
        let cfg = match load(&self.config_path) {
            Ok(c) => {
                super::logfile::follow(super::sink_of(&c.globals.logfile));
                log_warnings(&c);
                c
            }
            Err(LoadError::Unreadable(path, e)) => {
                log::error!("{}: {e}", path.display());
                log::error!("Reload failed: keeping the running configuration");
                return;
            }
            Err(LoadError::Rejected(r)) => {
                for w in &r.warnings {
                    log::warn!("{w}");
                }
                for e in &r.errors.0 {
                    log::error!("{e}");
                }
                log::error!("Reload failed: keeping the running configuration");
                return;
            }
        };
        // Waiting checks are asked again by the new config. A check in flight carries on
        // under the real's new id when the new config asks the same of it; the others end,
        // as their results could be mistaken for new reals.
        let in_flight: Vec<(usize, RealId)> = self
            .running
            .iter()
            .filter_map(|(t, r)| match r.job {
                Job::Check(id) => Some((*t, id)),
                _ => None,
            })
            .collect();
        let ids: Vec<RealId> = in_flight.iter().map(|(_, id)| *id).collect();
        // The kernel's table as it is now, as at start (the original's reload re-runs its
        // ld_start): what an operator removed or changed by hand is put back. A listing
        // that fails is said, and the reload goes by the table the core believes in (no host
        // test shows it: the record backend's listing cannot be made to fail; the core's
        // `reload` unit tests are that path).
        let listed = match self.ipvs.list() {
            Ok(t) => Some(t),
            Err(e) => {
                log::error!("reading the IPVS table: {e}; reloading against the last known table");
                None
            }
        };
        let reloaded = self
            .core
            .reload_listed(cfg, Instant::now(), &ids, listed.as_deref());
        let kept: HashMap<RealId, RealId> = reloaded.kept.into_iter().collect();
        let mut renumbered = Vec::new();
        for (t, old) in in_flight {
            match kept.get(&old) {
                Some(new) => {
                    if let Some(r) = self.running.get_mut(&t) {
                        r.job = Job::Check(*new);
                        renumbered.push((old, *new));
                    }
                }
                None => {
                    self.finish(t);
                }
            }
        }
        let targets = self.check_targets();
        self.slots.reloaded(&renumbered, &targets);
        check::conn::spare_targets(targets);
        self.apply(reloaded.actions);
    }

    /// Where the configured checks go (address, check port).
    fn check_targets(&self) -> std::collections::HashSet<SocketAddr> {
        self.core
            .config()
            .virtuals
            .iter()
            .flat_map(|v| v.reals.iter().map(|r| check::target(v, r)))
            .collect()
    }

    /// Where the check of `id` goes (an id from the core: it names a real of the config).
    fn target_of(&self, id: RealId) -> SocketAddr {
        let v = &self.core.config().virtuals[id.virt];
        check::target(v, &v.reals[id.real])
    }

    /// Remembers whether the last check of `id` timed out, for the order of the next.
    fn record(&mut self, id: RealId, timed_out: bool) {
        let target = self.target_of(id);
        self.slots.record(target, timed_out);
    }

    fn in_maintenance(&self, v: &Virtual, id: RealId) -> bool {
        let Some(dir) = &self.core.config().globals.maintenancedir else {
            return false;
        };
        let r = &v.reals[id.real];
        // The `real=` line's port (the Perl ldirectord's name; none when it has none) and
        // the port the checks connect to.
        let ports: &[u16] = if r.port > 0 {
            &[r.port, v.check_port(r)]
        } else {
            &[v.check_port(r)]
        };
        super::maintenance::holds(dir, r.addr, ports)
    }

    /// Feeds `input` to the core and carries out its actions.
    fn react(&mut self, now: Instant, input: Input) {
        let mut actions = std::mem::take(&mut self.actions);
        self.core.handle_into(now, input, &mut actions);
        self.apply(actions.drain(..));
        if actions.capacity() <= KEEP_ACTIONS {
            self.actions = actions;
        }
    }

    fn apply(&mut self, actions: impl IntoIterator<Item = Action>) {
        for a in actions {
            match a {
                // Started by the loop's `start_queued`, in the order check_slots gives.
                Action::Start(id, probe) => {
                    let up = self.core.is_up(id);
                    let target = self.target_of(id);
                    self.slots.due(Instant::now(), id, probe, target, up);
                }
                Action::Ipvs(op) => self.ipvs_op(op),
                Action::FallbackCommand {
                    command,
                    start,
                    virt,
                } => {
                    let v = &self.core.config().virtuals[virt];
                    spawn_shell(&check::external::fallback_command_line(&command, start, v));
                }
                Action::Alert {
                    virt,
                    subject,
                    log,
                    status,
                } => self.mail(virt, &subject, &log, status.name()),
                Action::Monitor { id, up, message } => self.monitor(id, up, &message),
            }
        }
    }

    fn ipvs_op(&mut self, op: IpvsOp) {
        let res = match &op {
            IpvsOp::AddService(s) => self.ipvs.add_service(s).or_else(|e| match errno_of(&e) {
                Some(libc::EEXIST) => self.ipvs.edit_service(s),
                _ => Err(e),
            }),
            IpvsOp::EditService(s) => self.ipvs.edit_service(s),
            IpvsOp::DelService(s) => self.ipvs.del_service(s),
            IpvsOp::AddDest(s, d) => self.ipvs.add_dest(s, d).or_else(|e| match errno_of(&e) {
                Some(libc::EEXIST) => self.ipvs.edit_dest(s, d),
                _ => Err(e),
            }),
            IpvsOp::EditDest(s, d) => {
                let readd = self.core.config().globals.readdquiescent;
                self.ipvs.edit_dest(s, d).or_else(|e| match errno_of(&e) {
                    // An administrator removed a real that is now quiesced: left out unless
                    // readdquiescent=yes, as in the original (removing it by hand is how an
                    // operator ends its persistent connections).
                    Some(libc::ENOENT) if d.weight == 0 && !readd => {
                        log::info!(
                            "Real server {} is not in the table of {}: left out \
                             (readdquiescent=no)",
                            dest_name(d),
                            s.key
                        );
                        Ok(())
                    }
                    // Removed meanwhile and coming back (or readdquiescent=yes): put back.
                    Some(libc::ENOENT) => self.ipvs.add_dest(s, d),
                    _ => Err(e),
                })
            }
            IpvsOp::DelDest(s, d) => self.ipvs.del_dest(s, d),
        };
        match res {
            Ok(()) => {}
            // Already gone is what a delete wants.
            Err(e)
                if matches!(op, IpvsOp::DelDest(..) | IpvsOp::DelService(_))
                    && errno_of(&e) == Some(libc::ENOENT) => {}
            Err(e) => log::error!("IPVS {op:?}: {e}"),
        }
    }

    /// Queues an alert (`lines`: its `Log-Message:` lines) and starts what slots allow. The
    /// message is written now, with the status and config of now: it may leave after a
    /// reload or during the stop.
    fn mail(&mut self, virt: usize, subject: &str, lines: &[String], status: &str) {
        let v = &self.core.config().virtuals[virt];
        let Some(to) = v.emailalert.as_deref() else {
            return;
        };
        let g = &self.core.config().globals;
        let msg = Message::new(
            &self.host,
            g.emailalertfrom.as_deref(),
            to,
            subject,
            status,
            v.servicename.as_deref(),
            v.comment.as_deref(),
        )
        .with_log_lines(lines);
        let queued = QueuedMail {
            msg,
            smtp: v.smtp.clone(),
        };
        if let Some(line) = self.mail_queue.push(queued, Instant::now(), self.mails) {
            log::error!("{line}");
        }
        self.send_queued_mails();
    }

    /// Starts the delivery of the alerts waiting, oldest first, while fewer than
    /// MAX_MAILS_IN_FLIGHT are being sent. A delivery that ends at once frees its slot
    /// within the loop here (no recursion).
    fn send_queued_mails(&mut self) {
        while self.mails < MAX_MAILS_IN_FLIGHT {
            let Some(QueuedMail { msg, smtp }) = self.mail_queue.pop() else {
                break;
            };
            // The Perl's ld_emailalert_send logs each mail as it sends it.
            log::info!("emailalert: {}", printable(&msg.subject));
            let job: std::io::Result<Box<dyn Check>> = match &smtp {
                Some(server) => SmtpDelivery::start(server, msg, &self.host)
                    .map(|d| Box::new(d) as Box<dyn Check>),
                None => SendmailDelivery::start(&msg).map(|d| Box::new(d) as Box<dyn Check>),
            };
            match job {
                Ok(d) => self.launch(Job::Mail, d, MAIL_TIMEOUT),
                Err(e) => log::error!("e-mail alert: {}", printable(&e.to_string())),
            }
        }
        if let Some(line) = self.mail_queue.drop_report(Instant::now()) {
            log::error!("{line}");
        }
    }
}

/// An alert waiting for a mail slot: its message and where it goes (`smtp=`, or sendmail).
struct QueuedMail {
    msg: Message,
    smtp: Option<String>,
}

#[cfg(test)]
mod keep_tests {
    use super::{Action, KEEP_ACTIONS};

    /// What `react` may keep between calls stays small beside the daemon's RSS.
    #[test]
    fn the_kept_actions_vector_is_at_most_256_kib() {
        let bytes = KEEP_ACTIONS * std::mem::size_of::<Action>();
        assert!(bytes <= 256 << 10, "{bytes}");
    }
}
