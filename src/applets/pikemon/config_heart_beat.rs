//! The `hmac` and `heart-beat` items of `pikemon { }`: the keys that sign and verify the
//! PIKE frames, the heart-beat interfaces and the optional death-watch between the two
//! supervisors (doc/pikemon.cfg.5.md).

use crate::conf::tree::Node;

use super::{
    absolute_path, missing_semicolon, trim_key, values, Config, DeathWatch, HmacKey, KeySource,
    Reader, Seen, DEATH_WATCH_PORT, MIN_KEY_LEN,
};

/// The longest key file read: a FIFO, a device such as /dev/zero or a runaway file is an
/// error at its position, not a hang or an endless read.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

impl Reader<'_> {
    pub(super) fn hmac(&mut self, node: &Node) -> Option<HmacKey> {
        if node.body.is_some() {
            let hint = missing_semicolon(node);
            self.err(
                node.span(),
                format!("'hmac' is an item, not a section{hint}"),
            );
            return None;
        }
        let usage =
            "expected 'hmac file \"PATH\" [key-id N];' or 'hmac key \"SECRET\" [key-id N];'";
        let (kind, arg, rest) = match node.args.as_slice() {
            [kind, arg, rest @ ..] => (kind, arg, rest),
            _ => {
                self.err(node.span(), usage);
                return None;
            }
        };
        let id = match rest {
            [] => 1,
            [k, v] if k.text == "key-id" => self.value(v, |t| values::number(t, 1, 65_535))? as u16,
            _ => {
                self.err(node.span(), format!("{usage}{}", missing_semicolon(node)));
                return None;
            }
        };
        let (source, secret) = match kind.text.as_str() {
            "file" => {
                let path = self.value(arg, absolute_path)?;
                let read = match self.key_files {
                    Some(started) => started.get(&path).cloned().ok_or_else(|| {
                        "not among the key files the daemon read at start".to_string()
                    }),
                    None => crate::conf::file::read_bytes(&path, MAX_KEY_FILE_LEN)
                        .map_err(|e| e.to_string()),
                };
                match read {
                    Ok(bytes) => (KeySource::File(path), trim_key(&bytes)),
                    Err(e) => {
                        let file = path.display();
                        self.err(&arg.span, format!("cannot read key file {file}: {e}"));
                        return None;
                    }
                }
            }
            "key" => (KeySource::Inline, arg.text.as_bytes().to_vec()),
            _ => {
                self.err(&kind.span, usage);
                return None;
            }
        };
        if secret.len() < MIN_KEY_LEN {
            // A key file emptied or cut short names itself: the config line only says where
            // its name stands.
            let whose = match &source {
                KeySource::File(path) => format!("key file {}: ", path.display()),
                KeySource::Inline => String::new(),
            };
            self.err(
                &arg.span,
                format!(
                    "{whose}the key is {} bytes, at least {MIN_KEY_LEN} are needed",
                    secret.len()
                ),
            );
            return None;
        }
        Some(HmacKey { id, source, secret })
    }

    pub(super) fn heart_beat(&mut self, sect: &Node, c: &mut Config) {
        let mut seen = Seen::default();
        for node in sect.children() {
            if node.key() == "death-watch" {
                if self.once(&mut seen, node) {
                    c.death_watch = self.death_watch(node);
                }
                continue;
            }
            if node.key() != "interface" {
                self.unknown(
                    node,
                    "section 'heart-beat' (expected 'interface' or 'death-watch')",
                );
                continue;
            }
            if !self.item(node, 1) {
                continue;
            }
            let Some(name) = self.value(&node.args[0], values::ifname) else {
                continue;
            };
            if c.heart_beat.contains(&name) {
                let msg = format!("heart-beat interface '{name}' is listed twice");
                self.err(node.span(), msg);
                continue;
            }
            c.heart_beat.push(name);
        }
        if c.heart_beat.is_empty() {
            self.err(sect.span(), "'heart-beat' needs at least one 'interface'");
        }
    }

    /// `death-watch local [A] peer [B] [port N];`
    fn death_watch(&mut self, node: &Node) -> Option<DeathWatch> {
        const USAGE: &str = "expected 'death-watch local [ADDR] peer [ADDR] [port N];'";
        if node.body.is_some() {
            let hint = missing_semicolon(node);
            self.err(
                node.span(),
                format!("'death-watch' is an item, not a section{hint}"),
            );
            return None;
        }
        let a = &node.args;
        let shape_ok = (a.len() == 4 || a.len() == 6)
            && a[0].text == "local"
            && a[2].text == "peer"
            && (a.len() == 4 || a[4].text == "port");
        if !shape_ok {
            self.err(node.span(), format!("{USAGE}{}", missing_semicolon(node)));
            return None;
        }
        let local = self.value(&a[1], values::ipv4);
        let peer = self.value(&a[3], values::ipv4);
        let port = match a.get(5) {
            Some(t) => self
                .value(t, |x| values::number(x, 1, 65535))
                .and_then(|n| u16::try_from(n).ok()),
            None => Some(DEATH_WATCH_PORT),
        };
        let (local, peer, port) = (local?, peer?, port?);
        for (addr, tok) in [(local, &a[1]), (peer, &a[3])] {
            if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
                self.err(&tok.span, format!("{addr} is not a unicast address"));
                return None;
            }
        }
        if local == peer {
            self.err(&a[3].span, "the peer address is the local address");
            return None;
        }
        Some(DeathWatch { local, peer, port })
    }
}
