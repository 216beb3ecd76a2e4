//! Pacemaker notifications: when a bulk update (`-B`) makes a failover or failback safe.
//!
//! * post-start: we are promoted and another node started → send it our whole state now.
//! * pre-promote: another node is about to be promoted → give it our freshest state before it
//!   commits its external cache.
//!
//! Node names are Pacemaker's (`CRM_meta_on_node`), never `hostname`; lists are
//! space-separated, an empty list is `" "`, and names match as whole words.

/// The notification as Pacemaker passes it (`OCF_RESKEY_CRM_meta_notify_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `pre` or `post`.
    pub kind: String,
    /// `start`, `stop`, `promote` or `demote`.
    pub operation: String,
    /// `notify_start_uname`.
    pub start: Vec<String>,
    /// `notify_promote_uname`.
    pub promote: Vec<String>,
    /// `notify_promoted_uname` (or the legacy `notify_master_uname`).
    pub promoted: Vec<String>,
}

/// Why we send a bulk update, if we do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// We are promoted and a peer started.
    PostStart,
    /// A peer is about to be promoted.
    PrePromote,
}

impl Notification {
    /// Reads the notification from the environment lookup `var` (name without the
    /// `OCF_RESKEY_CRM_meta_` prefix).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Notification {
        let list = |name: &str| words(&var(name).unwrap_or_default());
        let promoted = match var("notify_promoted_uname") {
            Some(v) if !v.trim().is_empty() => words(&v),
            _ => list("notify_master_uname"),
        };
        Notification {
            kind: var("notify_type").unwrap_or_default(),
            operation: var("notify_operation").unwrap_or_default(),
            start: list("notify_start_uname"),
            promote: list("notify_promote_uname"),
            promoted,
        }
    }

    /// What node `me` has to do for this notification.
    pub fn decide(&self, me: &str) -> Option<Bulk> {
        let others = |list: &[String]| list.iter().any(|n| n != me);
        match (self.kind.as_str(), self.operation.as_str()) {
            ("post", "start") if self.promoted.iter().any(|n| n == me) && others(&self.start) => {
                Some(Bulk::PostStart)
            }
            ("pre", "promote") if others(&self.promote) => Some(Bulk::PrePromote),
            _ => None,
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn note(pairs: &[(&str, &str)]) -> Notification {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Notification::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn promoted_node_sends_bulk_after_a_peer_started() {
        let n = note(&[
            ("notify_type", "post"),
            ("notify_operation", "start"),
            ("notify_start_uname", "fw-a"),
            ("notify_promoted_uname", "fw-b"),
        ]);
        assert_eq!(n.decide("fw-b"), Some(Bulk::PostStart));
        // The node that started is not promoted: nothing to send.
        assert_eq!(n.decide("fw-a"), None);
    }

    #[test]
    fn post_start_of_ourselves_only_is_no_reason() {
        let n = note(&[
            ("notify_type", "post"),
            ("notify_operation", "start"),
            ("notify_start_uname", "fw-b"),
            ("notify_promoted_uname", "fw-b"),
        ]);
        assert_eq!(n.decide("fw-b"), None);
    }

    #[test]
    fn legacy_master_list_is_used_when_promoted_is_empty() {
        let n = note(&[
            ("notify_type", "post"),
            ("notify_operation", "start"),
            ("notify_start_uname", "fw-a "),
            ("notify_promoted_uname", " "),
            ("notify_master_uname", "fw-b"),
        ]);
        assert_eq!(n.decide("fw-b"), Some(Bulk::PostStart));
    }

    #[test]
    fn every_other_node_sends_bulk_before_a_peer_is_promoted() {
        let n = note(&[
            ("notify_type", "pre"),
            ("notify_operation", "promote"),
            ("notify_promote_uname", "fw-a"),
        ]);
        assert_eq!(n.decide("fw-b"), Some(Bulk::PrePromote));
        assert_eq!(n.decide("fw-a"), None);
    }

    #[test]
    fn names_match_whole_words_not_substrings() {
        let n = note(&[
            ("notify_type", "pre"),
            ("notify_operation", "promote"),
            ("notify_promote_uname", "fw-a1"),
        ]);
        assert_eq!(n.decide("fw-a"), Some(Bulk::PrePromote));
    }

    #[test]
    fn empty_lists_and_other_operations_do_nothing() {
        for (t, o) in [
            ("pre", "start"),
            ("post", "promote"),
            ("post", "stop"),
            ("", ""),
        ] {
            let n = note(&[
                ("notify_type", t),
                ("notify_operation", o),
                ("notify_start_uname", " "),
                ("notify_promote_uname", " "),
                ("notify_promoted_uname", "me"),
            ]);
            assert_eq!(n.decide("me"), None, "{t}-{o}");
        }
        let n = note(&[("notify_type", "pre"), ("notify_operation", "promote")]);
        assert_eq!(n.decide("me"), None);
    }
}
