//! Where the `ringnumber_N` attributes go: a state file, always (rewritten atomically on every
//! change by `sys::file::Writer`'s thread, off the loop; removed on exit), and Pacemaker's attrd through `attrd_updater -n NAME -U VALUE`
//! when that tool is installed (`-D` on exit; the calls themselves are `attrd.rs`).
//! `ifcheckd -s` prints them in the layout of `crm_mon -A1`'s "Node Attributes:" section.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Default state file.
pub const DEFAULT_STATE_FILE: &str = "/run/ifcheckd/attributes";

const HEADER: &str = "# ifcheckd ring attributes: ringnumber_N ADDR is UP|FAULTY";

/// The attribute name of ring `n`.
pub fn name(ring: u32) -> String {
    format!("ringnumber_{ring}")
}

/// `text` with its control characters (C0, DEL, C1) as `\xNN` and a backslash as `\\`: the
/// state file is one record a line, and a host name holding a newline (sethostname takes any
/// bytes) wrote a ring attribute of its own; `-s` must not pass escape sequences to the
/// terminal either. The backslash is escaped so that a name holding the four characters
/// `\x0a` does not read as one holding a newline.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `escape` undone: `\\` is a backslash, `\xNN` the character NN; any other backslash (a
/// file written before backslashes were escaped) is kept as it is.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("\\\\") {
            out.push('\\');
            rest = after;
            continue;
        }
        let code = tail
            .get(2..4)
            .filter(|_| tail.starts_with("\\x"))
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                out.push(c);
                rest = &tail[4..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The state file's text for `node` and its attributes.
pub fn render(node: &str, attrs: &BTreeMap<u32, String>) -> String {
    let mut s = format!("{HEADER}\nnode {}\n", escape(node));
    for (ring, value) in attrs {
        let _ = writeln!(s, "{} {}", name(*ring), escape(value));
    }
    s
}

/// Reads a state file back: the node name and its attributes by name, unescaped (`show`
/// escapes them once again, and the node name is compared with attrd's host names).
pub fn read_state(text: &str) -> (String, Vec<(String, String)>) {
    let mut node = String::new();
    let mut attrs = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(n) = line.strip_prefix("node ") {
            node = unescape(n.trim());
        } else if let Some((k, v)) = line.split_once(' ') {
            if k.starts_with("ringnumber_") {
                attrs.push((unescape(k), unescape(v.trim())));
            }
        }
    }
    (node, attrs)
}

/// `name="ringnumber_0" host="fw-b" value="198.51.100.2 is UP"` lines of `attrd_updater -Q -A`
/// as (host, name, value).
pub fn parse_query(text: &str) -> Vec<(String, String, String)> {
    let field = |line: &str, key: &str| -> Option<String> {
        let start = line.find(&format!("{key}=\""))? + key.len() + 2;
        let rest = line.get(start..)?;
        Some(rest.get(..rest.find('"')?)?.to_string())
    };
    text.lines()
        .filter_map(|l| Some((field(l, "host")?, field(l, "name")?, field(l, "value")?)))
        .collect()
}

/// The `crm_mon -A1` layout (Pacemaker 2.1): `Node Attributes:`, one `* Node: NAME:` list per
/// node that has attributes, in crm_mon's node order (`node_order`), one
/// `* NAME<pad to 32>\t: VALUE<pad to 10>` item per attribute in byte order. With no
/// attribute at all crm_mon prints no such section, and neither does this.
pub fn show(nodes: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut listed: Vec<_> = nodes.iter().filter(|(_, a)| !a.is_empty()).collect();
    if listed.is_empty() {
        return String::new();
    }
    listed.sort_by(|a, b| node_order(a.0, b.0).then_with(|| a.0.cmp(b.0)));
    let mut s = String::from("Node Attributes:\n");
    for (node, attrs) in listed {
        let _ = writeln!(s, "  * Node: {}:", escape(node));
        for (name, value) in attrs {
            let (name, value) = (escape(name), escape(value));
            let _ = writeln!(s, "    * {name:<32}\t: {value:<10}");
        }
    }
    s
}

/// crm_mon's order of node names (Pacemaker's `pcmk__numeric_strcasecmp`): letters compared
/// case-insensitively, a run of digits in both names by its value and then by its length
/// (`7` before `007`), so `fw-2` comes before `fw-10` and `fw-a` before `FW-b`. Bytes are
/// compared as C's signed `char` on x86 (a non-ASCII byte before any ASCII one). Numbers are
/// compared whole where strtol stops at LONG_MAX (names with 20-digit runs).
fn node_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let run = |s: &[u8], at: usize| {
                let end = s[at..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(s.len(), |n| at + n);
                (at, end)
            };
            let ((sa, ea), (sb, eb)) = (run(a, i), run(b, j));
            // A run's digits without its leading zeros: longer is greater, then byte order.
            fn value(s: &[u8]) -> &[u8] {
                let zeros = s.iter().take_while(|&&c| c == b'0').count();
                &s[zeros..]
            }
            let (va, vb) = (value(&a[sa..ea]), value(&b[sb..eb]));
            let by_value = va.len().cmp(&vb.len()).then_with(|| va.cmp(vb));
            let order = by_value.then_with(|| (ea - sa).cmp(&(eb - sb)));
            if order != Ordering::Equal {
                return order;
            }
            (i, j) = (ea, eb);
        } else {
            let lower = |c: u8| c.to_ascii_lowercase() as i8;
            let order = lower(a[i]).cmp(&lower(b[j]));
            if order != Ordering::Equal {
                return order;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).min(1).cmp(&(b.len() - j).min(1))
}

#[cfg(test)]
mod tests {

    #[test]
    fn state_file_followed_a_symlink_planted_at_its_temp_name() {
        use std::os::unix::fs::symlink;
        let dir = std::env::temp_dir().join(format!("hbx-ifc-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ifcheckd.state");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // The temporary name the old writer used, predictable from the pid.
        symlink(
            &victim,
            path.with_extension(format!("tmp{}", std::process::id())),
        )
        .unwrap();
        crate::sys::file::write_atomic(&path, b"ringnumber_0 198.51.100.1 is UP\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "ringnumber_0 198.51.100.1 is UP\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    use super::*;

    #[test]
    fn state_file_round_trip() {
        let mut attrs = BTreeMap::new();
        attrs.insert(0, "198.51.100.1 is UP".to_string());
        attrs.insert(1, "hb1 is FAULTY".to_string());
        let text = render("fw-a", &attrs);
        assert!(text.starts_with("# ifcheckd"));
        let (node, read) = read_state(&text);
        assert_eq!(node, "fw-a");
        assert_eq!(
            read,
            vec![
                ("ringnumber_0".into(), "198.51.100.1 is UP".into()),
                ("ringnumber_1".into(), "hb1 is FAULTY".into())
            ]
        );
    }

    #[test]
    fn control_characters_are_escaped_and_stay_on_their_line() {
        let attrs = BTreeMap::from([(0, "198.51.100.1\r is UP\u{1b}[2J\u{85}".to_string())]);
        let text = render("fw a\nringnumber_7 x is UP", &attrs);
        assert_eq!(
            text.lines().skip(1).collect::<Vec<_>>(),
            [
                "node fw a\\x0aringnumber_7 x is UP",
                "ringnumber_0 198.51.100.1\\x0d is UP\\x1b[2J\\x85"
            ]
        );
        let (node, read) = read_state(&text);
        assert_eq!(node, "fw a\nringnumber_7 x is UP");
        assert_eq!(read.len(), 1);
        assert_eq!(escape("fw-a \u{2028}"), "fw-a \u{2028}");
    }

    #[test]
    fn a_host_name_holding_backslash_x0a_read_the_same_as_an_escaped_newline() {
        let literal = render("fw\\x0a", &BTreeMap::new());
        let newline = render("fw\n", &BTreeMap::new());
        assert_ne!(literal, newline);
        assert!(literal.contains("\nnode fw\\\\x0a\n"), "{literal:?}");
        assert!(newline.contains("\nnode fw\\x0a\n"), "{newline:?}");
        // Read back as they were, and shown (escaped once) apart.
        assert_eq!(read_state(&literal).0, "fw\\x0a");
        assert_eq!(read_state(&newline).0, "fw\n");
        let attrs = BTreeMap::from([(0, "a\\b\x07 is UP".to_string())]);
        let (node, read) = read_state(&render("fw\\", &attrs));
        assert_eq!(node, "fw\\");
        assert_eq!(
            read,
            [("ringnumber_0".to_string(), "a\\b\x07 is UP".to_string())]
        );
        let shown = |node: &str| {
            let ring = BTreeMap::from([("ringnumber_0".to_string(), "x is UP".to_string())]);
            show(&BTreeMap::from([(node.to_string(), ring)]))
        };
        assert_ne!(
            shown(&read_state(&literal).0),
            shown(&read_state(&newline).0)
        );
        assert_eq!(escape("a\\x0a\n"), "a\\\\x0a\\x0a");
        // Backslashes of an older file, or a hand-edited one, are kept and never panic.
        for odd in [
            "\\",
            "a\\x",
            "a\\x4",
            "\\xé0",
            "\\x\u{e9}",
            "\\xg1",
            "\\q\\",
            "ü\\xü",
        ] {
            assert_eq!(unescape(odd), odd);
        }
        for text in ["", "\\", "fw\\x0a\n\u{85}\\\\x", "é\u{1b}"] {
            assert_eq!(unescape(&escape(text)), text);
        }
    }

    #[test]
    fn show_uses_crm_mon_layout() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "fw-a".to_string(),
            BTreeMap::from([("ringnumber_0".to_string(), "198.51.100.1 is UP".to_string())]),
        );
        assert_eq!(
            show(&nodes),
            "Node Attributes:\n  * Node: fw-a:\n    * ringnumber_0                    \t: 198.51.100.1 is UP\n"
        );
    }

    /// `-s` listed nodes in byte order (`FW-b`, `fw-10`, `fw-2`, `fw-a`) where crm_mon -A1
    /// lists `fw-2`, `fw-10`, `fw-a`, `FW-b`, and showed a node without attributes (and the
    /// section with none at all) that crm_mon leaves out. The host test
    /// `show_differed_from_crm_mon_a1_for_the_same_attributes` compares with crm_mon itself.
    #[test]
    fn show_listed_nodes_in_byte_order_where_crm_mon_sorts_numbers_and_ignores_case() {
        let ring = |v: &str| BTreeMap::from([("ringnumber_0".to_string(), v.to_string())]);
        let nodes = BTreeMap::from([
            ("fw-a".to_string(), ring("a")),
            ("FW-b".to_string(), ring("b")),
            ("fw-10".to_string(), ring("c")),
            ("fw-2".to_string(), ring("d")),
            ("fw-idle".to_string(), BTreeMap::new()),
        ]);
        let order: Vec<String> = show(&nodes)
            .lines()
            .filter_map(|l| l.strip_prefix("  * Node: ").map(str::to_string))
            .collect();
        assert_eq!(order, ["fw-2:", "fw-10:", "fw-a:", "FW-b:"]);
        let idle = BTreeMap::from([("fw-a".to_string(), BTreeMap::new())]);
        assert_eq!(show(&idle), "");
        use std::cmp::Ordering::*;
        for (a, b, o) in [
            ("node9", "node10", Less),
            ("node10", "remotenode9", Less),
            ("n7", "n007", Less),
            ("a", "ab", Less),
            ("AB", "ab", Equal),
            (
                "n99999999999999999999999",
                "n100000000000000000000000",
                Less,
            ),
            ("\u{e9}", "a", Less),
        ] {
            assert_eq!(node_order(a, b), o, "{a} {b}");
            assert_eq!(node_order(b, a), o.reverse(), "{b} {a}");
        }
    }

    #[test]
    fn attrd_query_lines() {
        let q = "name=\"ringnumber_0\" host=\"fw-b\" value=\"198.51.100.2 is UP\"\n\
                 garbage\nname=\"x\" host=\"h\"\n";
        assert_eq!(
            parse_query(q),
            vec![(
                "fw-b".to_string(),
                "ringnumber_0".to_string(),
                "198.51.100.2 is UP".to_string()
            )]
        );
    }
}
