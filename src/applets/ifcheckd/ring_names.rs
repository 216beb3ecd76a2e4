//! Ring addresses the cmap gives only as host names (`ringN_addr: fw-a`, as `pcs cluster
//! setup` writes them, and no `runtime.members` key saying what corosync resolved). A name is
//! resolved with getaddrinfo in a thread — a lookup may wait seconds for a nameserver and the
//! event loop must not — at most once per `refresh`, and stands for the one of its addresses
//! that is configured on this node (a name of the peer's, or of a service, is not our ring).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crate::sys::addrinfo::LookupError;

type Answer = Result<Vec<IpAddr>, LookupError>;
/// The answers of one batch of lookups, from its thread.
type Batch = Receiver<Vec<(String, Answer)>>;

/// What a ring name stands for, as far as known now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// This node's address of that name.
    Local(IpAddr),
    /// The first lookup of the name has not finished yet.
    Pending,
    /// No address: why, in a sentence for the log.
    Missing(String),
}

/// Lookups of ring names and their last answers.
pub struct RingNames {
    refresh: Duration,
    resolve: fn(&str) -> Answer,
    answers: BTreeMap<String, (Instant, Answer)>,
    /// The batch being looked up in a thread, and when it was started.
    running: Option<(Instant, Batch)>,
}

impl RingNames {
    /// `resolve` is `sys::addrinfo::lookup` (a stand-in in tests).
    pub fn new(refresh: Duration, resolve: fn(&str) -> Answer) -> RingNames {
        RingNames {
            refresh,
            resolve,
            answers: BTreeMap::new(),
            running: None,
        }
    }

    /// Takes the answers of a finished lookup, then starts one (in a thread) for those of
    /// `names` never resolved or last resolved `refresh` ago. One batch at a time.
    pub fn refresh<'a>(&mut self, now: Instant, names: impl IntoIterator<Item = &'a str>) {
        self.collect();
        if self.running.is_some() {
            return;
        }
        let due: Vec<String> = names
            .into_iter()
            .filter(|n| {
                self.answers
                    .get(*n)
                    .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= self.refresh)
            })
            .map(str::to_string)
            .collect();
        if due.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let resolve = self.resolve;
        let spawned = std::thread::Builder::new()
            .name("ring-names".into())
            .spawn(move || {
                let answers = due.into_iter().map(|n| {
                    let a = resolve(&n);
                    (n, a)
                });
                let _ = tx.send(answers.collect());
            });
        match spawned {
            Ok(_) => self.running = Some((now, rx)),
            Err(e) => log::warn!("ring names are not resolved: {e}"),
        }
    }

    fn collect(&mut self) {
        let Some((started, rx)) = self.running.take() else {
            return;
        };
        match rx.try_recv() {
            Ok(answers) => {
                for (name, answer) in answers {
                    self.answers.insert(name, (started, answer));
                }
            }
            Err(TryRecvError::Empty) => self.running = Some((started, rx)),
            Err(TryRecvError::Disconnected) => {}
        }
    }

    /// What `name` stands for: its address among `local` (this node's addresses; None when
    /// they cannot be listed: then its first address).
    pub fn lookup(&self, name: &str, local: Option<&[IpAddr]>) -> Resolution {
        match self.answers.get(name) {
            None => Resolution::Pending,
            Some((_, answer)) => pick_local(name, answer, local),
        }
    }

    /// Waits for the running lookup (tests).
    #[cfg(test)]
    fn finish(&mut self) {
        if let Some((started, rx)) = self.running.take() {
            if let Ok(answers) = rx.recv() {
                for (name, answer) in answers {
                    self.answers.insert(name, (started, answer));
                }
            }
        }
    }
}

/// The address of `name` that is configured here.
fn pick_local(name: &str, answer: &Answer, local: Option<&[IpAddr]>) -> Resolution {
    let addrs = match answer {
        Ok(addrs) => addrs,
        Err(e) => return Resolution::Missing(format!("{name}: {e}")),
    };
    let found = match local {
        Some(local) => addrs.iter().find(|a| local.contains(a)),
        None => addrs.first(),
    };
    match found {
        Some(a) => Resolution::Local(*a),
        None => {
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            Resolution::Missing(format!(
                "{name} resolves to {}, none of them configured on this node",
                list.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(name: &str) -> Answer {
        match name {
            "fw-a" => Ok(vec![
                "2001:db8::1".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            ]),
            "fw-b" => Ok(vec!["198.51.100.2".parse().unwrap()]),
            _ => Err(LookupError(libc::EAI_NONAME)),
        }
    }

    #[test]
    fn a_name_stands_for_its_address_configured_here() {
        let local: Vec<IpAddr> = vec!["198.51.100.1".parse().unwrap()];
        let mut n = RingNames::new(Duration::from_secs(60), hosts);
        let now = Instant::now();
        assert_eq!(n.lookup("fw-a", Some(&local)), Resolution::Pending);
        n.refresh(now, ["fw-a", "fw-b", "nosuch"]);
        n.finish();
        assert_eq!(
            n.lookup("fw-a", Some(&local)),
            Resolution::Local("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            n.lookup("fw-b", Some(&local)),
            Resolution::Missing(
                "fw-b resolves to 198.51.100.2, none of them configured on this node".into()
            )
        );
        assert_eq!(
            n.lookup("nosuch", Some(&local)),
            Resolution::Missing("nosuch: Name or service not known".into())
        );
        // Without the list of local addresses, the first one.
        assert_eq!(
            n.lookup("fw-a", None),
            Resolution::Local("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn names_are_looked_up_again_only_after_the_refresh_time() {
        let mut n = RingNames::new(Duration::from_secs(60), hosts);
        let now = Instant::now();
        n.refresh(now, ["fw-a"]);
        n.finish();
        n.refresh(now + Duration::from_secs(59), ["fw-a"]);
        assert!(
            n.running.is_none(),
            "looked up again within the refresh time"
        );
        n.refresh(now + Duration::from_secs(60), ["fw-a"]);
        assert!(n.running.is_some());
        // The old answer serves while the new lookup runs.
        assert!(matches!(n.lookup("fw-a", None), Resolution::Local(_)));
        n.finish();
    }
}
