//! ping's check of the data an echo reply brings back (ping_common.c `gather_statistics`,
//! iputils 20221126): the bytes after the 16-byte time stamp are compared with the request's;
//! at the first difference ping prints `wrong data byte #N should be 0xXX but was 0xYY` and
//! the received bytes from #16 on, 32 a line, each line opened by `#N<TAB>`. The reply is
//! counted all the same. Pure: bytes in, text out.

use std::fmt::Write as _;

/// Bytes of the send time at the start of the data; ping never compares them.
const UNCHECKED: usize = 16;
/// Bytes per line of the dump.
const PER_LINE: usize = 32;

/// The text ping appends to a reply line whose data differ from `sent` after the time
/// stamp (starting with a newline, without the last one), or `None` when they match. Only
/// the `sent.len()` bytes of the request are looked at: a longer reply's extra bytes are not,
/// and a shorter one is printed `(truncated)` by the caller, never checked.
pub fn wrong_data_report(sent: &[u8], got: &[u8]) -> Option<String> {
    let checked = UNCHECKED..sent.len().min(got.len());
    let first = checked.clone().find(|&i| sent.get(i) != got.get(i))?;
    let mut s = String::new();
    let _ = write!(
        s,
        "\nwrong data byte #{first} should be 0x{:x} but was 0x{:x}",
        sent[first], got[first]
    );
    for i in checked {
        if i % PER_LINE == UNCHECKED {
            let _ = write!(s, "\n#{i}\t");
        }
        let _ = write!(s, "{:x} ", got[i]);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    #[test]
    fn matching_data_and_a_changed_time_stamp_say_nothing() {
        let sent = pattern(56);
        assert_eq!(wrong_data_report(&sent, &sent), None);
        let mut got = sent.clone();
        got[3] = 0xaa;
        got[15] = 0;
        assert_eq!(wrong_data_report(&sent, &got), None);
        // Nothing past the time stamp (ping -s 8, -s 16): nothing to compare.
        assert_eq!(wrong_data_report(&pattern(8), &[9; 8]), None);
        assert_eq!(wrong_data_report(&pattern(16), &[9; 16]), None);
    }

    #[test]
    fn the_first_difference_is_named_and_the_rest_dumped_32_a_line() {
        let sent = pattern(56);
        let mut got = sent.clone();
        got[20] = 0xff;
        got[40] = 0;
        assert_eq!(
            wrong_data_report(&sent, &got).as_deref(),
            Some(
                "\nwrong data byte #20 should be 0x14 but was 0xff\n\
                 #16\t10 11 12 13 ff 15 16 17 18 19 1a 1b 1c 1d 1e 1f \
                 20 21 22 23 24 25 26 27 0 29 2a 2b 2c 2d 2e 2f \n\
                 #48\t30 31 32 33 34 35 36 37 "
            )
        );
    }

    #[test]
    fn short_payloads_and_a_zero_byte_print_as_ping() {
        let sent = pattern(20);
        let mut got = sent.clone();
        got[17] = 0;
        assert_eq!(
            wrong_data_report(&sent, &got).as_deref(),
            Some("\nwrong data byte #17 should be 0x11 but was 0x0\n#16\t10 0 12 13 ")
        );
        // Extra bytes in a longer reply are not compared.
        let mut longer = sent.clone();
        longer.extend_from_slice(&[0xee; 8]);
        assert_eq!(wrong_data_report(&sent, &longer), None);
    }

    #[test]
    fn a_large_payload_dumps_every_line_with_its_offset() {
        let sent = pattern(100);
        let mut got = sent.clone();
        got[99] = 0x7;
        let text = wrong_data_report(&sent, &got).unwrap_or_default();
        let heads: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split('\t').next().filter(|h| h.starts_with('#')))
            .collect();
        assert_eq!(heads, ["#16", "#48", "#80"]);
        assert!(text.starts_with("\nwrong data byte #99 should be 0x63 but was 0x7\n"));
        assert!(
            text.ends_with("\n#80\t50 51 52 53 54 55 56 57 58 59 5a 5b 5c 5d 5e 5f 60 61 62 7 ")
        );
    }
}
