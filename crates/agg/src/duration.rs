//! Duration strings (`window`, `half_life`, `sub_window`): `^\d+(ms|s|m|h|d)$`, never zero.
//!
//! `"forever"` is not a duration; callers that accept it (the `window` param) check for it first.

/// Milliseconds per unit suffix.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses `^\d+(ms|s|m|h|d)$` into milliseconds. Leading zeros are fine (`"01m"`); zero, an
/// unknown unit, whitespace, a fraction or a value beyond `i64::MAX` ms is an error.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let invalid = || format!("invalid duration '{s}'; expected format: \\d+(ms|s|m|h|d)");
    let digits_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, unit) = s.split_at(digits_len);
    if digits.is_empty() {
        return Err(invalid());
    }
    let per_unit = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ms)| *ms)
        .ok_or_else(invalid)?;
    let amount: u64 = digits.parse().map_err(|_| invalid())?;
    let ms = amount.checked_mul(per_unit).ok_or_else(invalid)?;
    if ms == 0 || ms > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn accepts_every_unit() {
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("5s"), Ok(5_000));
        assert_eq!(parse_duration_ms("10m"), Ok(600_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("7d"), Ok(604_800_000));
        assert_eq!(parse_duration_ms("01m"), Ok(60_000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "0s",
            "000ms",
            "1w",
            "1M",
            "1.5h",
            " 1m",
            "1m ",
            "-1m",
            "m",
            "1",
            "1hh",
            "forever",
            "99999999999999999999d",
            "106751991168d",
            "+1s",
        ] {
            assert!(
                parse_duration_ms(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
