//! What the OCF resource agents (ip-ra, conntrack-ra) share: the exit-reason line.

/// The one exit-reason line Pacemaker shows: `${OCF_EXIT_REASON_PREFIX:-ocf-exit-reason:}TEXT`.
/// Pacemaker keeps only the first line, and a reason quotes the operator's values: a newline
/// in one (`OCF_RESKEY_nic="eth0<newline>x"`) cut the reason after the value, so that
/// `nic=eth0` looked like the fault. Control characters are written as escapes (`\n`).
pub fn exit_reason(text: &str) -> String {
    let prefix = std::env::var("OCF_EXIT_REASON_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ocf-exit-reason:".to_string());
    format!("{prefix}{}", one_line(text))
}

/// `text` with its control characters escaped, so it is one line.
fn one_line(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_newlines_stay_on_the_reason_line() {
        assert_eq!(
            one_line("nic=eth0\nx: not an interface name"),
            "nic=eth0\\nx: not an interface name"
        );
        assert_eq!(one_line("a\tb\r\u{1b}"), "a\\tb\\r\\u{1b}");
        assert_eq!(
            one_line("conntrackd binary 'x y' not found; $(id) ünïcode"),
            "conntrackd binary 'x y' not found; $(id) ünïcode"
        );
    }
}
