//! lkping's command line: getopt-style parsing (clustered flags, `-c3` or `-c 3`, options
//! after the destination, `--`) into a validated `Options`. Pure: no sockets.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// Usage text for `-h`.
pub const USAGE: &str = "\
Usage: lkping [options] <destination>

Send ICMP (IPv4) or ICMPv6 echo requests to <destination> (IPv4 or IPv6 address, an IPv6
address may carry %interface, or host name) and print the replies the way iputils ping
and ping -6 do.

Options:
  -4                 IPv4 only
  -6                 IPv6 only
  -a                 audible: a bell (BEL) at the end of each reply line
  -b                 allow pinging a broadcast address; with -6 and no destination, ping
                     the all-nodes group ff02::1 on the -I interface
  -c <count>         stop after <count> replies (with -w) or requests
  -h                 print this help and exit
  -I <ifname|addr>   send from this interface (SO_BINDTODEVICE) or source address; an
                     IPv6 address may carry %ifname (bound to it, in its scope)
  -i <interval>      seconds between requests (default 1; below 0.2 only for root)
  -n                 numeric output (the default; accepted for ping compatibility)
  -q                 quiet: only the header and the statistics
  -s <size>          data bytes per request (default 56)
  -t <ttl>           IP time to live (IPv6: hop limit)
  -V                 print version and exit
  -v                 verbose: also mark duplicate replies to broadcasts and show the
                     echo identifier (ident=)
  -W <timeout>       seconds to wait for replies after the last request (default 10;
                     0 waits without a limit)
  -w <deadline>      stop after <deadline> seconds whatever was received
  -z <a[,b...]>      ignore replies from these addresses (not printed, not counted)

Exit status: 0 a reply came, 1 no reply, 2 error.
";

/// Default data bytes (ping's 64 − 8).
pub const DEFAULT_SIZE: usize = 56;
/// Largest data size an IPv4 datagram can carry (65535 − 20 − 8).
pub const MAX_SIZE: usize = 65507;
/// Shortest interval a user without root may ask for (LifeKeeper's and older iputils' 200 ms).
pub const MIN_USER_INTERVAL: Duration = Duration::from_millis(200);

/// The address family forced by `-4` / `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// The IPv6 all-nodes group `-6 -b` pings when no destination is given.
pub const ALL_NODES: &str = "ff02::1";

/// Where requests leave from (`-I`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    /// An interface name: SO_BINDTODEVICE.
    Device(String),
    /// A local address: bind(2) the socket to it.
    Address(IpAddr),
    /// `ADDR%DEV` (iputils: an IPv6 source with its device): bind to the address, with DEV's
    /// index as the scope of a link-local one, and to the device.
    ScopedAddress { addr: Ipv6Addr, device: String },
}

impl Interface {
    /// The device to bind to, if any.
    pub fn device(&self) -> Option<&str> {
        match self {
            Interface::Device(d) | Interface::ScopedAddress { device: d, .. } => Some(d),
            Interface::Address(_) => None,
        }
    }

    /// The source address to bind to, if any.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            Interface::Device(_) => None,
            Interface::Address(a) => Some(*a),
            Interface::ScopedAddress { addr, .. } => Some(IpAddr::V6(*addr)),
        }
    }
}

/// Everything that shapes one ping run. `Default` is plain `ping TARGET` (count unlimited:
/// set `count` or `deadline` when calling `run` from a daemon).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Host name, IPv4 address or IPv6 address (with an optional `%interface`).
    pub target: String,
    /// `-4` / `-6`: only this family (a name resolves to it, a literal of the other fails).
    pub family: Option<Family>,
    /// `-c`: stop after this many replies (plus errors); without a deadline, also after this
    /// many requests and the wait for their replies.
    pub count: Option<u64>,
    /// `-w`: stop this long after the start, whatever was received.
    pub deadline: Option<Duration>,
    /// `-W`: how long to wait for replies after the last request when none came yet; zero
    /// waits without a limit (until a reply, an error, the deadline or SIGINT), as in iputils.
    pub linger: Duration,
    /// `-i`: time between requests.
    pub interval: Duration,
    /// `-s`: data bytes per request (≥ 16 carries the send time, so rtt can be shown).
    pub size: usize,
    /// `-t`: IP TTL of the requests.
    pub ttl: Option<u8>,
    /// `-q`: print only the header and the statistics.
    pub quiet: bool,
    /// `-v`: also mark duplicates of broadcast pings, and show the echo identifier.
    pub verbose: bool,
    /// `-a`: end each printed reply line with a bell (BEL), as ping's audible mode.
    pub audible: bool,
    /// `-b`: a broadcast destination is allowed.
    pub broadcast: bool,
    /// `-I`: leave through this interface or from this address.
    pub interface: Option<Interface>,
    /// `-z`: replies (and ICMP errors) from these addresses are dropped unseen.
    pub ignore_from: Vec<IpAddr>,
    /// Ends the run on SIGINT or SIGALRM, printing the statistics, and prints a status line
    /// on SIGQUIT, as ping does. Only the command line sets it: a daemon keeps its own
    /// signal handling.
    pub stop_on_sigint: bool,
    /// For code that decides on the answer (ip-ra's connectivity check): a reply counts only
    /// when it echoes the request's data, whose bytes after the time stamp are random per
    /// run, and, to a unicast destination, only from that destination; ICMP errors do not end
    /// the run. ping counts any reply with the run's 16-bit identifier, which a LAN host
    /// guesses by sending all of them. Only code sets it: the command line prints as ping.
    pub strict: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: String::new(),
            family: None,
            count: None,
            deadline: None,
            linger: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            size: DEFAULT_SIZE,
            ttl: None,
            quiet: false,
            verbose: false,
            audible: false,
            broadcast: false,
            interface: None,
            ignore_from: Vec::new(),
            stop_on_sigint: false,
            strict: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Ping(Options),
    Help,
    Version,
}

/// A bad command line; displayed after `lkping: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// An integer in `min..=max`, with ping's messages.
fn int_in(arg: &str, min: i64, max: i64) -> Result<i64, UsageError> {
    match arg.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) => err(format!(
            "invalid argument: '{arg}': out of range: {min} <= value <= {max}"
        )),
        Err(_) => err(format!("invalid argument: '{arg}'")),
    }
}

/// Seconds as a finite, non-negative decimal number.
fn seconds(arg: &str, what: &str) -> Result<Duration, UsageError> {
    match arg.trim().parse::<f64>() {
        // A value that is not zero but rounds to it (1e-10) would read as "no limit" (-W 0).
        Ok(v) if v > 0.0 && Duration::from_secs_f64(v).is_zero() => err(format!("{what}: {arg}")),
        Ok(v) if v.is_finite() && (0.0..=f64::from(i32::MAX / 1000)).contains(&v) => {
            Ok(Duration::from_secs_f64(v))
        }
        _ => err(format!("{what}: {arg}")),
    }
}

/// Parses `args` (without the program name). `privileged` lifts the minimum interval.
pub fn parse_args(args: &[String], privileged: bool) -> Result<Command, UsageError> {
    let mut o = Options {
        stop_on_sigint: true,
        ..Options::default()
    };
    let mut targets = Vec::new();
    let mut it = args.iter();
    let mut only_operands = false;
    while let Some(arg) = it.next() {
        if only_operands || arg == "-" || !arg.starts_with('-') {
            targets.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_operands = true;
            continue;
        }
        let flags = arg[1..].char_indices();
        for (i, flag) in flags {
            let takes_value = matches!(flag, 'c' | 'w' | 'W' | 'i' | 's' | 't' | 'I' | 'z');
            if !takes_value {
                match flag {
                    'b' => o.broadcast = true,
                    '4' | '6' => {
                        let family = if flag == '4' { Family::V4 } else { Family::V6 };
                        // ping: a second, different family is a usage error, not "the last wins".
                        if o.family.is_some_and(|f| f != family) {
                            return err("only one -4 or -6 option may be specified");
                        }
                        o.family = Some(family);
                    }
                    'q' => o.quiet = true,
                    'v' => o.verbose = true,
                    'a' => o.audible = true,
                    'n' => {}
                    'h' => return Ok(Command::Help),
                    'V' => return Ok(Command::Version),
                    other => return err(format!("invalid option -- '{other}'")),
                }
                continue;
            }
            // The value is the rest of this word or the next word.
            let rest = &arg[1 + i + flag.len_utf8()..];
            let value = if !rest.is_empty() {
                rest.to_string()
            } else {
                match it.next() {
                    Some(v) => v.clone(),
                    None => return err(format!("option requires an argument -- '{flag}'")),
                }
            };
            apply(&mut o, flag, &value)?;
            break;
        }
    }
    if !privileged && o.interval < MIN_USER_INTERVAL {
        return err(format!(
            "cannot flood; minimal interval allowed for user is {}ms",
            MIN_USER_INTERVAL.as_millis()
        ));
    }
    match targets.len() {
        0 if o.broadcast && o.family == Some(Family::V6) => {
            o.target = ALL_NODES.to_string();
            Ok(Command::Ping(o))
        }
        0 => err("usage error: Destination address required"),
        1 => {
            o.target = targets.remove(0);
            Ok(Command::Ping(o))
        }
        _ => err(format!(
            "only one destination is supported, got {}",
            targets.join(" ")
        )),
    }
}

fn apply(o: &mut Options, flag: char, value: &str) -> Result<(), UsageError> {
    match flag {
        'c' => o.count = Some(int_in(value, 1, i64::MAX)? as u64),
        'w' => {
            let secs = int_in(value, 0, i64::from(i32::MAX))? as u64;
            o.deadline = (secs > 0).then(|| Duration::from_secs(secs));
        }
        // iputils 20221126: "0 means infinite timeout" (ping(8)); it was refused here.
        'W' => o.linger = seconds(value, "bad linger time")?,
        'i' => o.interval = seconds(value, "bad timing interval")?,
        's' => o.size = int_in(value, 0, MAX_SIZE as i64)? as usize,
        't' => o.ttl = Some(int_in(value, 0, 255)? as u8),
        'I' => o.interface = Some(interface(value)?),
        'z' => {
            for a in value.split(',') {
                match a.trim().parse::<IpAddr>() {
                    Ok(addr) => o.ignore_from.push(addr),
                    Err(_) => return err(format!("invalid -z address: '{a}'")),
                }
            }
        }
        _ => return err(format!("invalid option -- '{flag}'")),
    }
    Ok(())
}

/// `-I`'s value as iputils ping reads it: one with a `:` is an IPv6 address, `%DEV` naming
/// its device; else an IPv4 address; else an interface name.
fn interface(value: &str) -> Result<Interface, UsageError> {
    if value.contains(':') {
        let (addr, device) = match value.split_once('%') {
            Some((a, d)) => (a, Some(d)),
            None => (value, None),
        };
        let Ok(addr) = addr.parse::<Ipv6Addr>() else {
            return err(format!("invalid source address: {value}"));
        };
        return Ok(match device {
            Some(d) => Interface::ScopedAddress {
                addr,
                device: d.to_string(),
            },
            None => Interface::Address(IpAddr::V6(addr)),
        });
    }
    match value.parse::<IpAddr>() {
        Ok(a) => Ok(Interface::Address(a)),
        Err(_) if value.is_empty() || value.len() > 15 || value.contains('/') => {
            err(format!("invalid interface name: '{value}'"))
        }
        Err(_) => Ok(Interface::Device(value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn ping(s: &str) -> Options {
        match parse_args(&args(s), true) {
            Ok(Command::Ping(o)) => o,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn bad(s: &str, privileged: bool) -> String {
        match parse_args(&args(s), privileged) {
            Err(e) => e.to_string(),
            other => panic!("{s}: accepted: {other:?}"),
        }
    }

    #[test]
    fn lifekeeper_options_are_parsed() {
        let o =
            ping("-c 3 -w5 -W 0.5 -i 0.2 -s 100 -t 9 -qbv -I eth0 -z 198.51.100.1,198.51.100.2 h");
        assert_eq!(o.target, "h");
        assert_eq!(o.count, Some(3));
        assert_eq!(o.deadline, Some(Duration::from_secs(5)));
        assert_eq!(o.linger, Duration::from_millis(500));
        assert_eq!(o.interval, Duration::from_millis(200));
        assert_eq!(o.size, 100);
        assert_eq!(o.ttl, Some(9));
        assert!(o.quiet && o.broadcast && o.verbose && o.stop_on_sigint);
        assert_eq!(o.interface, Some(Interface::Device("eth0".into())));
        assert_eq!(
            o.ignore_from,
            vec![
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))
            ]
        );
    }

    #[test]
    fn options_may_follow_the_destination() {
        let o = ping("198.51.100.2 -c1 -I 198.51.100.1");
        assert_eq!(o.count, Some(1));
        assert_eq!(
            o.interface,
            Some(Interface::Address(Ipv4Addr::new(198, 51, 100, 1).into()))
        );
        assert_eq!(ping("-- -x").target, "-x");
    }

    #[test]
    fn bad_values_are_refused_with_ping_messages() {
        assert_eq!(
            bad("-c 0 h", true),
            "invalid argument: '0': out of range: 1 <= value <= 9223372036854775807"
        );
        assert_eq!(bad("-c abc h", true), "invalid argument: 'abc'");
        assert_eq!(bad("-Y h", true), "invalid option -- 'Y'");
        assert_eq!(bad("-c", true), "option requires an argument -- 'c'");
        assert_eq!(bad("-i abc h", true), "bad timing interval: abc");
        assert_eq!(bad("-W -1 h", true), "bad linger time: -1");
        assert_eq!(bad("-W x h", true), "bad linger time: x");
        assert_eq!(
            bad("-t 256 h", true),
            "invalid argument: '256': out of range: 0 <= value <= 255"
        );
        assert_eq!(
            bad("-s 70000 h", true),
            "invalid argument: '70000': out of range: 0 <= value <= 65507"
        );
        assert_eq!(bad("-z 1.2.3 h", true), "invalid -z address: '1.2.3'");
        assert_eq!(bad("-q", true), "usage error: Destination address required");
        assert!(bad("a b", true).starts_with("only one destination"));
    }

    #[test]
    fn short_interval_needs_root() {
        assert_eq!(
            bad("-i 0.1 h", false),
            "cannot flood; minimal interval allowed for user is 200ms"
        );
        assert_eq!(ping("-i 0.01 h").interval, Duration::from_millis(10));
        assert!(matches!(
            parse_args(&args("-i 0.2 h"), false),
            Ok(Command::Ping(_))
        ));
    }

    #[test]
    fn ipv6_options_and_the_all_nodes_default_of_dash_b() {
        let o = ping("-6 -c 2 -I 2001:db8::1 -z 2001:db8::1,198.51.100.1 2001:db8::2");
        assert_eq!(o.family, Some(Family::V6));
        assert_eq!(o.target, "2001:db8::2");
        assert_eq!(
            o.interface,
            Some(Interface::Address("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            o.ignore_from,
            vec![
                "2001:db8::1".parse::<IpAddr>().unwrap(),
                "198.51.100.1".parse::<IpAddr>().unwrap()
            ]
        );
        let b = ping("-6 -b -I v0 -c 1");
        assert_eq!((b.target.as_str(), b.broadcast), ("ff02::1", true));
        assert_eq!(ping("-4 h").family, Some(Family::V4));
        assert_eq!(ping("fe80::1%v0").target, "fe80::1%v0");
        assert_eq!(bad("-b", true), "usage error: Destination address required");
        assert_eq!(
            bad("-z 2001:db8::x h", true),
            "invalid -z address: '2001:db8::x'"
        );
    }

    #[test]
    fn scoped_source_address_was_taken_for_an_interface_name() {
        // `-I fe80::1%va` failed the address parse and became a device named "fe80::1%va".
        assert_eq!(
            ping("-I fe80::1%va fe80::2").interface,
            Some(Interface::ScopedAddress {
                addr: "fe80::1".parse().unwrap(),
                device: "va".into()
            })
        );
        let global = ping("-I 2001:db8::1%va 2001:db8::2").interface.unwrap();
        assert_eq!(global.device(), Some("va"));
        assert_eq!(global.address(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            bad("-I fe80::x%va h", true),
            "invalid source address: fe80::x%va"
        );
        assert_eq!(
            bad("-I 198.51.100.1:7 h", true),
            "invalid source address: 198.51.100.1:7"
        );
    }

    /// `lkping -a` said "invalid option -- 'a'" (exit 2) where ping rings a bell per reply.
    #[test]
    fn audible_flag_was_refused_as_an_invalid_option() {
        let o = ping("-a -c 1 h");
        assert!(o.audible);
        assert!(ping("-qac2 h").audible);
        assert!(!ping("h").audible);
    }

    /// iputils 20221126 lets these through (a negative or garbage interval with "option
    /// argument contains garbage", a hexadecimal float, an empty -I, a size it then fails to
    /// send); lkping refuses them as bad numbers (README: where it differs on purpose).
    #[test]
    fn values_ping_lets_through_are_refused() {
        assert_eq!(bad("-i -1 h", true), "bad timing interval: -1");
        assert_eq!(bad("-i 1x h", true), "bad timing interval: 1x");
        assert_eq!(bad("-W 0x10 h", true), "bad linger time: 0x10");
        assert_eq!(
            parse_args(&["-I".into(), String::new(), "h".into()], true),
            Err(UsageError("invalid interface name: ''".into()))
        );
        assert_eq!(
            bad("-s 65508 h", true),
            "invalid argument: '65508': out of range: 0 <= value <= 65507"
        );
    }

    /// `-4 -6` pinged with the last family given; ping refuses both together.
    #[test]
    fn both_families_were_taken_as_the_last_one_given() {
        let both = "only one -4 or -6 option may be specified";
        assert_eq!(bad("-4 -6 h", true), both);
        assert_eq!(bad("-6 -c1 -4 h", true), both);
        assert_eq!(bad("-46 h", true), both);
        assert_eq!(ping("-4 -4 h").family, Some(Family::V4));
        assert_eq!(ping("-66 h").family, Some(Family::V6));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_args(&args("-h"), false), Ok(Command::Help));
        assert_eq!(parse_args(&args("-V"), false), Ok(Command::Version));
    }

    /// `lkping -W 0` said "bad linger time: 0" (exit 2); iputils ping takes it: "0 means
    /// infinite timeout" (ping(8), iputils 20221126).
    #[test]
    fn linger_time_zero_was_refused_where_ping_waits_without_a_limit() {
        assert_eq!(ping("-W 0 -c 1 h").linger, Duration::ZERO);
        assert_eq!(ping("-W 0.0 h").linger, Duration::ZERO);
    }

    /// `-W 0.0000000001` rounded to zero and so waited without a limit, as only `-W 0` may.
    #[test]
    fn a_linger_time_that_rounds_to_zero_waited_without_a_limit() {
        let bad = |a: &str| match parse_args(&args(a), true) {
            Err(e) => e.to_string(),
            Ok(c) => format!("{c:?}"),
        };
        assert_eq!(bad("-W 0.0000000001 h"), "bad linger time: 0.0000000001");
        assert_eq!(ping("-W 0.000000001 h").linger, Duration::from_nanos(1));
    }
}
