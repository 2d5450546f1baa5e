//! Parsing of single directive values: whole numbers, On/Off flags.
//!
//! Every error names the directive the way the user wrote it, so
//! `apachectl configtest` points at the offending line.

use std::time::Duration;

/// C stores these settings in an `int`; keeping the same ceiling means
/// later arithmetic (seconds to microseconds, sums of scores) cannot
/// overflow.
pub const INT_MAX: u64 = i32::MAX as u64;

/// `FcgidMaxRequestLen` is an `apr_off_t` in C.
pub const OFF_MAX: u64 = i64::MAX as u64;

/// Parses a non-negative decimal number no larger than `max`.
/// `unit` completes the phrase "a whole number…", e.g. " of seconds".
fn whole_number(directive: &str, word: &str, unit: &str, max: u64) -> Result<u64, String> {
    if word.is_empty() {
        return Err(format!(
            "{directive}: expected a whole number{unit}, got an empty value"
        ));
    }
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = word.strip_prefix('-') {
        if digits_only(rest) {
            return Err(format!(
                "{directive}: '{word}' is negative; expected a whole number{unit}"
            ));
        }
    }
    if !digits_only(word) {
        return Err(format!("{directive}: '{word}' is not a whole number{unit}"));
    }
    match word.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "{directive}: '{word}' is too large (at most {max})"
        )),
    }
}

/// A duration given in whole seconds.
pub fn seconds(directive: &str, word: &str) -> Result<Duration, String> {
    whole_number(directive, word, " of seconds", INT_MAX).map(Duration::from_secs)
}

/// A duration in whole seconds that must not be zero.
pub fn positive_seconds(directive: &str, word: &str) -> Result<Duration, String> {
    let d = seconds(directive, word)?;
    if d.is_zero() {
        return Err(format!("{directive}: must be greater than 0 seconds"));
    }
    Ok(d)
}

/// A count of processes, requests or score points.
pub fn count(directive: &str, word: &str) -> Result<u32, String> {
    // INT_MAX fits in u32, so the conversion cannot fail.
    whole_number(directive, word, "", INT_MAX).map(|n| n as u32)
}

/// A size in bytes, at most `max`.
pub fn bytes(directive: &str, word: &str, max: u64) -> Result<u64, String> {
    whole_number(directive, word, " of bytes", max)
}

/// A size in bytes that C keeps in an `int`.
pub fn int_bytes(directive: &str, word: &str) -> Result<u64, String> {
    bytes(directive, word, INT_MAX)
}

/// A size in bytes that C keeps in an `apr_off_t`.
pub fn off_bytes(directive: &str, word: &str) -> Result<u64, String> {
    bytes(directive, word, OFF_MAX)
}

/// A buffer size (C: an `int`; INT_MAX fits in usize wherever httpd runs).
pub fn buffer_bytes(directive: &str, word: &str) -> Result<usize, String> {
    int_bytes(directive, word).map(|n| n as usize)
}

/// `FcgidMaxRequestsPerProcess`: like [`count`], but `-1` is accepted as
/// a synonym for 0 (unlimited), as the 2.3.9 manual promises.
pub fn request_limit(directive: &str, word: &str) -> Result<u32, String> {
    if word == "-1" {
        return Ok(0);
    }
    count(directive, word)
}

/// `On` or `Off`, any case (httpd's rule for flag directives).
pub fn flag(directive: &str, word: &str) -> Result<bool, String> {
    if word.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if word.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(format!("{directive}: '{word}' must be On or Off"))
    }
}

/// `FcgidFixPathinfo`: C reads a number (non-zero enables). We also take
/// On/Off, because C silently reads `On` as 0 and users write it anyway.
pub fn number_or_flag(directive: &str, word: &str) -> Result<bool, String> {
    if let Ok(on) = flag(directive, word) {
        return Ok(on);
    }
    whole_number(directive, word, " (or On/Off)", INT_MAX).map(|n| n != 0)
}

/// A time threshold that can be switched off: `Off` (zero), whole seconds
/// (`2`, as mod_fcgid's other times), or with httpd's units `ms` or `s`
/// (`500ms`, `2s`).
pub fn off_or_time(directive: &str, word: &str) -> Result<Duration, String> {
    if word.eq_ignore_ascii_case("off") {
        return Ok(Duration::ZERO);
    }
    let (digits, unit_ms) = if let Some(n) = word.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = word.strip_suffix('s') {
        (n, 1000)
    } else {
        (word, 1000)
    };
    let n = whole_number(directive, digits, "", INT_MAX).map_err(|_| {
        format!("{directive}: '{word}' is not Off, whole seconds (2, 2s) or milliseconds (500ms)")
    })?;
    Ok(Duration::from_millis(n * unit_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_or_time_takes_off_seconds_and_milliseconds() {
        assert_eq!(off_or_time("S", "Off"), Ok(Duration::ZERO));
        assert_eq!(off_or_time("S", "off"), Ok(Duration::ZERO));
        assert_eq!(off_or_time("S", "0"), Ok(Duration::ZERO));
        assert_eq!(off_or_time("S", "2"), Ok(Duration::from_secs(2)));
        assert_eq!(off_or_time("S", "2s"), Ok(Duration::from_secs(2)));
        assert_eq!(off_or_time("S", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            off_or_time("S", "2147483647s"),
            Ok(Duration::from_secs(INT_MAX))
        );
        for bad in [
            "", "ms", "s", "1.5s", "-1", "2 s", "2m", "2h", "abc", "2sms",
        ] {
            let err = off_or_time("FcgidSlowRequestLog", bad).unwrap_err();
            assert!(err.starts_with("FcgidSlowRequestLog: "), "{err}");
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn seconds_accepts_whole_numbers() {
        assert_eq!(seconds("X", "0"), Ok(Duration::ZERO));
        assert_eq!(seconds("X", "300"), Ok(Duration::from_secs(300)));
        assert_eq!(seconds("X", "2147483647"), Ok(Duration::from_secs(INT_MAX)));
    }

    #[test]
    fn seconds_rejects_garbage_naming_the_directive() {
        assert_eq!(
            seconds("FcgidIdleTimeout", "abc"),
            Err("FcgidIdleTimeout: 'abc' is not a whole number of seconds".to_string())
        );
        for bad in ["12abc", "1.5", " 3", "+3", "0x10", "-", "3s"] {
            let err = seconds("IdleTimeout", bad).unwrap_err();
            assert!(err.starts_with("IdleTimeout: "), "{err}");
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn seconds_rejects_negative_and_huge_and_empty() {
        let neg = seconds("BusyTimeout", "-5").unwrap_err();
        assert!(neg.contains("negative"), "{neg}");
        let huge = seconds("BusyTimeout", "2147483648").unwrap_err();
        assert!(huge.contains("too large"), "{huge}");
        let huge = seconds("BusyTimeout", "99999999999999999999999").unwrap_err();
        assert!(huge.contains("too large"), "{huge}");
        let empty = seconds("BusyTimeout", "").unwrap_err();
        assert!(empty.starts_with("BusyTimeout: "), "{empty}");
    }

    #[test]
    fn positive_seconds_rejects_zero() {
        assert_eq!(positive_seconds("T", "1"), Ok(Duration::from_secs(1)));
        let err = positive_seconds("IPCCommTimeout", "0").unwrap_err();
        assert!(err.starts_with("IPCCommTimeout: "), "{err}");
    }

    #[test]
    fn count_and_bytes() {
        assert_eq!(count("C", "1000"), Ok(1000));
        assert!(count("C", "-1").is_err());
        assert_eq!(bytes("B", "131072", OFF_MAX), Ok(131072));
        assert_eq!(bytes("B", "9000000000", OFF_MAX), Ok(9_000_000_000));
        assert!(bytes("B", "9000000000", INT_MAX).is_err());
        assert_eq!(
            bytes("MaxRequestLen", "lots", OFF_MAX),
            Err("MaxRequestLen: 'lots' is not a whole number of bytes".to_string())
        );
    }

    #[test]
    fn request_limit_treats_minus_one_as_unlimited() {
        assert_eq!(request_limit("R", "-1"), Ok(0));
        assert_eq!(request_limit("R", "500"), Ok(500));
        assert!(request_limit("R", "-2").is_err());
    }

    #[test]
    fn flag_is_case_insensitive() {
        for on in ["On", "on", "ON", "oN"] {
            assert_eq!(flag("F", on), Ok(true));
        }
        for off in ["Off", "off", "OFF"] {
            assert_eq!(flag("F", off), Ok(false));
        }
        assert_eq!(
            flag("FcgidAuthorizerAuthoritative", "yes"),
            Err("FcgidAuthorizerAuthoritative: 'yes' must be On or Off".to_string())
        );
        assert!(flag("F", "1").is_err());
    }

    #[test]
    fn number_or_flag_takes_both_forms() {
        assert_eq!(number_or_flag("P", "1"), Ok(true));
        assert_eq!(number_or_flag("P", "0"), Ok(false));
        assert_eq!(number_or_flag("P", "2"), Ok(true));
        assert_eq!(number_or_flag("P", "on"), Ok(true));
        assert_eq!(number_or_flag("P", "Off"), Ok(false));
        let err = number_or_flag("PHP_Fix_Pathinfo_Enable", "maybe").unwrap_err();
        assert!(err.starts_with("PHP_Fix_Pathinfo_Enable: "), "{err}");
    }
}
