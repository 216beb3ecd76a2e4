//! E-mail alerts (emailalert=): the message the original sends and our own small SMTP client
//! (RFC 5321: EHLO, MAIL FROM, RCPT TO per address, DATA with dot-stuffing, QUIT), run as a
//! non-blocking dialogue in the daemon's loop like a check. Without `smtp=` the message is
//! handed to `/usr/sbin/sendmail -t` as the original's Mail::Send does.

use super::check::lines::{Replies, Reply};
use super::check::{Dialogue, Step};
use super::core::Outcome;

/// The text of one alert.
pub struct Message {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl Message {
    /// The original's body: host, log message, daemon status, service name and comment.
    pub fn new(
        host: &str,
        from: Option<&str>,
        to: &str,
        subject: &str,
        status: &str,
        servicename: Option<&str>,
        comment: Option<&str>,
    ) -> Message {
        let mut body = format!(
            "ldirectord host: {host}\r\nLog-Message: {subject}\r\nDaemon-Status: {status}\r\n"
        );
        if let Some(s) = servicename {
            body.push_str(&format!("Service-Name: {s}\r\n"));
        }
        if let Some(c) = comment {
            body.push_str(&format!("Comment: {c}\r\n"));
        }
        Message {
            from: from
                .map(str::to_string)
                .unwrap_or_else(|| format!("root@{host}")),
            to: to
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            subject: subject.to_string(),
            body,
        }
    }

    /// One `Log-Message:` line per entry of `lines` in place of the subject's (a stop's mail
    /// lists what it logged); no lines leave the subject's. The subject's line is the
    /// second of the body `new` wrote, after the host's (a host name holds no line end).
    pub fn with_log_lines(mut self, lines: &[String]) -> Message {
        if lines.is_empty() {
            return self;
        }
        let one = format!("Log-Message: {}\r\n", self.subject);
        let many: String = lines
            .iter()
            .map(|l| format!("Log-Message: {l}\r\n"))
            .collect();
        self.body = self.body.replacen(&one, &many, 1);
        self
    }

    /// Headers and body as sent after DATA (without the final dot).
    pub fn text(&self) -> String {
        format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\n\r\n{}",
            self.from,
            self.to.join(", "),
            self.subject.replace(['\r', '\n'], " "),
            self.body
        )
    }

    /// The text's lines, any line end (CR LF, a bare LF, a bare CR) taken as a break: a bare
    /// LF or CR passed on as it is would be a line end to some servers and not to others (SMTP
    /// smuggling), and `\n.\n` would end the DATA early.
    fn lines(&self) -> Vec<String> {
        let text = self.text().replace("\r\n", "\n").replace('\r', "\n");
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.split('\n').map(str::to_string).collect()
    }

    /// What follows DATA: every line ended by CR LF and dot-stuffed (RFC 5321 §4.5.2), then
    /// the final dot.
    pub fn data(&self) -> String {
        let mut out = String::new();
        for l in self.lines() {
            if l.starts_with('.') {
                out.push('.');
            }
            out.push_str(&l);
            out.push_str("\r\n");
        }
        out.push_str(".\r\n");
        out
    }

    /// What sendmail reads on stdin (`-i`: a lone dot is text, not the end): LF line ends.
    pub fn sendmail_text(&self) -> String {
        let mut out = self.lines().join("\n");
        out.push('\n');
        out
    }

    /// The address part of `from` (`Name <a@b>` → `a@b`).
    fn envelope_from(&self) -> String {
        match (self.from.find('<'), self.from.rfind('>')) {
            (Some(a), Some(b)) if a < b => self.from[a + 1..b].to_string(),
            _ => self.from.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    Ehlo,
    Mail,
    Rcpt(usize),
    Data,
    Body,
}

/// Sends one message over an SMTP connection.
pub struct SmtpSend {
    msg: Message,
    host: String,
    stage: Stage,
    replies: Replies,
}

impl SmtpSend {
    pub fn new(msg: Message, host: &str) -> SmtpSend {
        SmtpSend {
            msg,
            host: host.to_string(),
            stage: Stage::Greeting,
            replies: Replies::default(),
        }
    }
}

impl Dialogue for SmtpSend {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (Vec::new(), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        let (code, line) = match self.replies.next(input) {
            Reply::Incomplete => return Step::More,
            Reply::Garbage(l) => {
                return Step::Done(Outcome::Down(format!("not an SMTP reply: {l}")))
            }
            Reply::Complete(code, line) => (code, line),
        };
        // Whatever comes next is an answer to what we send now.
        self.replies.restart();
        let ok = match self.stage {
            Stage::Data => code == 354,
            _ => (200..300).contains(&code),
        };
        if !ok {
            return Step::Done(Outcome::Down(line));
        }
        let send = |s: String| Step::Send(s.into_bytes());
        match self.stage {
            Stage::Greeting => {
                self.stage = Stage::Ehlo;
                send(format!("EHLO {}\r\n", self.host))
            }
            Stage::Ehlo => {
                self.stage = Stage::Mail;
                send(format!("MAIL FROM:<{}>\r\n", self.msg.envelope_from()))
            }
            Stage::Mail | Stage::Rcpt(_) => {
                let next = match self.stage {
                    Stage::Rcpt(i) => i + 1,
                    _ => 0,
                };
                match self.msg.to.get(next) {
                    Some(to) => {
                        self.stage = Stage::Rcpt(next);
                        send(format!("RCPT TO:<{to}>\r\n"))
                    }
                    None => {
                        self.stage = Stage::Data;
                        send("DATA\r\n".into())
                    }
                }
            }
            Stage::Data => {
                self.stage = Stage::Body;
                send(self.msg.data())
            }
            Stage::Body => Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up(line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_transaction() {
        let m = Message::new(
            "lb1",
            Some("LD <ld@x.example>"),
            "a@x.example, b@x.example",
            "Deleted real server",
            "running",
            Some("Web"),
            None,
        );
        let mut s = SmtpSend::new(m, "lb1");
        let mut sent = Vec::new();
        for reply in [
            "220 hi\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "354 go\r\n",
            "250 queued\r\n",
        ] {
            match s.received(reply.as_bytes(), false) {
                Step::Send(b) => sent.push(String::from_utf8_lossy(&b).to_string()),
                Step::Finish(b, Outcome::Up(_)) => {
                    sent.push(String::from_utf8_lossy(&b).to_string())
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            &sent[..5],
            [
                "EHLO lb1\r\n",
                "MAIL FROM:<ld@x.example>\r\n",
                "RCPT TO:<a@x.example>\r\n",
                "RCPT TO:<b@x.example>\r\n",
                "DATA\r\n"
            ]
        );
        assert!(sent[5].starts_with("From: LD <ld@x.example>\r\nTo: a@x.example, b@x.example\r\nSubject: Deleted real server\r\n\r\nldirectord host: lb1\r\n"));
        assert!(sent[5].contains("Service-Name: Web\r\n"));
        assert!(sent[5].ends_with("\r\n.\r\n"));
        assert_eq!(sent[6], "QUIT\r\n");
    }

    #[test]
    fn bare_line_ends_never_reach_data_unescaped() {
        let m = Message::new(
            "h",
            None,
            "a@x",
            "s",
            "running",
            Some("Web\n.\nMAIL FROM:<evil@x>"),
            Some("one\rtwo\r\n.three"),
        );
        let data = m.data();
        assert!(data.ends_with("\r\n.\r\n"), "{data:?}");
        let body = data.strip_suffix(".\r\n").unwrap_or_default();
        assert!(!body.contains("\r\n.\r\n"), "{data:?}");
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'\n' => assert_eq!(body.as_bytes().get(i.wrapping_sub(1)), Some(&b'\r')),
                b'\r' => assert_eq!(body.as_bytes().get(i + 1), Some(&b'\n')),
                _ => {}
            }
        }
        assert!(
            body.contains("\r\n..\r\nMAIL FROM:<evil@x>\r\n"),
            "{data:?}"
        );
        assert!(
            body.contains("Comment: one\r\ntwo\r\n..three\r\n"),
            "{data:?}"
        );
        let sm = m.sendmail_text();
        assert!(!sm.contains('\r') && sm.ends_with("\n.three\n"), "{sm:?}");
    }

    #[test]
    fn a_listing_puts_a_log_message_line_per_entry_in_the_subjects_place() {
        let lines = [
            "Purged real server (stop): a".to_string(),
            "x\r\n.".to_string(),
        ];
        let m = Message::new("h", None, "a@x", "[W] s", "stopping", Some("W"), None)
            .with_log_lines(&lines);
        assert_eq!(
            m.body,
            "ldirectord host: h\r\nLog-Message: Purged real server (stop): a\r\n\
             Log-Message: x\r\n.\r\nDaemon-Status: stopping\r\nService-Name: W\r\n"
        );
        assert!(
            m.data().contains("\r\n..\r\nDaemon-Status"),
            "{:?}",
            m.data()
        );
        let same = Message::new("h", None, "a@x", "s", "running", None, None).with_log_lines(&[]);
        assert!(same.body.contains("Log-Message: s\r\nDaemon-Status"));
    }

    #[test]
    fn refusal_is_reported() {
        let m = Message::new("h", None, "a@x", "s", "running", None, None);
        let mut s = SmtpSend::new(m, "h");
        s.received(b"220 hi\r\n", false);
        s.received(b"250 ok\r\n", false);
        assert_eq!(
            s.received(b"550 no\r\n", false),
            Step::Done(Outcome::Down("550 no".into()))
        );
    }
}
