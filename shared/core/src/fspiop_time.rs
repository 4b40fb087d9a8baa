//! The FSPIOP `DateTime` type: ISO 8601 with exactly three fractional digits and `Z` or `±hh:mm`,
//! e.g. `2016-05-24T08:38:08.699-04:00`.
//!
//! [`parse`] accepts exactly what the OpenAPI pattern accepts (including its real-calendar rules:
//! day of month and leap years), written as byte checks plus `time`'s calendar validation.
//! [`format()`] always prints UTC with a `Z`, the form the hub sends.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`
pub const UTC_FORM_LEN: usize = 24;
/// `YYYY-MM-DDTHH:MM:SS.mmm+hh:mm`
pub const OFFSET_FORM_LEN: usize = 29;

/// Why a string is not an FSPIOP `DateTime`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not an FSPIOP DateTime (YYYY-MM-DDTHH:MM:SS.sss followed by Z or ±hh:mm)")]
    Syntax,
    #[error("not a calendar date")]
    InvalidDate,
    #[error("date and time out of the supported range")]
    OutOfRange,
}

/// Parses an FSPIOP `DateTime`, keeping the offset it was given in.
pub fn parse(s: &str) -> Result<OffsetDateTime, TimeError> {
    let b = s.as_bytes();
    if b.len() != UTC_FORM_LEN && b.len() != OFFSET_FORM_LEN {
        return Err(TimeError::Syntax);
    }
    // Fixed separators of `YYYY-MM-DDTHH:MM:SS.mmm`.
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.';
    if !separators_ok {
        return Err(TimeError::Syntax);
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let milli = digits(b, 20, 3)?;
    // `[1-9]\d{3}`, `(?:[01]\d|2[0-3])`, `[0-5]\d` twice (no leap seconds).
    if b[0] == b'0' || hour > 23 || minute > 59 || second > 59 {
        return Err(TimeError::Syntax);
    }
    let offset = match &b[23..] {
        b"Z" => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(b, 24, 2)?;
            let minutes = digits(b, 27, 2)?;
            // `[01]\d:[0-5]\d`
            if hours > 19 || minutes > 59 {
                return Err(TimeError::Syntax);
            }
            let (h, m) = (narrow_i8(hours)?, narrow_i8(minutes)?);
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            UtcOffset::from_hms(h, m, 0).map_err(|_| TimeError::Syntax)?
        }
        _ => return Err(TimeError::Syntax),
    };
    let month = Month::try_from(narrow_u8(month)?).map_err(|_| TimeError::Syntax)?;
    let year = i32::from(u16::try_from(year).map_err(|_| TimeError::Syntax)?);
    let date = Date::from_calendar_date(year, month, narrow_u8(day)?)
        .map_err(|_| TimeError::InvalidDate)?;
    let milli = u16::try_from(milli).map_err(|_| TimeError::Syntax)?;
    let time = Time::from_hms_milli(
        narrow_u8(hour)?,
        narrow_u8(minute)?,
        narrow_u8(second)?,
        milli,
    )
    .map_err(|_| TimeError::Syntax)?;
    let parsed = PrimitiveDateTime::new(date, time).assume_offset(offset);
    // The same instant must be printable in UTC (e.g. 9999-12-31T23:59:59.999-01:00 is not).
    if parsed.checked_to_offset(UtcOffset::UTC).is_none() {
        return Err(TimeError::OutOfRange);
    }
    Ok(parsed)
}

/// Prints `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (sub-millisecond digits are truncated).
///
/// # Panics
/// If the instant's UTC date is outside the `time` crate's range; values from [`parse`] and from
/// the clock never are.
pub fn format(t: OffsetDateTime) -> String {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .unwrap_or_else(|| panic!("{t} cannot be expressed in UTC"));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Reads `len` ASCII digits at `start`.
fn digits(b: &[u8], start: usize, len: usize) -> Result<u32, TimeError> {
    let field = b.get(start..start + len).ok_or(TimeError::Syntax)?;
    field.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(TimeError::Syntax)
        }
    })
}

fn narrow_u8(n: u32) -> Result<u8, TimeError> {
    u8::try_from(n).map_err(|_| TimeError::Syntax)
}

fn narrow_i8(n: u32) -> Result<i8, TimeError> {
    i8::try_from(n).map_err(|_| TimeError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn parses_the_spec_examples() {
        assert_eq!(
            parse("2016-05-24T08:38:08.699-04:00").unwrap(),
            datetime!(2016-05-24 08:38:08.699 -04:00)
        );
        assert_eq!(
            parse("2016-05-24T08:38:08.699Z").unwrap(),
            datetime!(2016-05-24 08:38:08.699 UTC)
        );
        assert_eq!(
            parse("2030-01-01T00:00:00.000+19:59").unwrap(),
            datetime!(2030-01-01 00:00:00 +19:59)
        );
    }

    #[test]
    fn validates_the_calendar() {
        assert!(parse("2024-02-29T00:00:00.000Z").is_ok());
        assert!(parse("2000-02-29T00:00:00.000Z").is_ok());
        assert_eq!(
            parse("2023-02-29T00:00:00.000Z"),
            Err(TimeError::InvalidDate)
        );
        assert_eq!(
            parse("1900-02-29T00:00:00.000Z"),
            Err(TimeError::InvalidDate)
        );
        assert_eq!(
            parse("2024-04-31T00:00:00.000Z"),
            Err(TimeError::InvalidDate)
        );
        assert_eq!(parse("2024-00-10T00:00:00.000Z"), Err(TimeError::Syntax));
        assert_eq!(parse("2024-13-10T00:00:00.000Z"), Err(TimeError::Syntax));
        assert_eq!(
            parse("2024-01-00T00:00:00.000Z"),
            Err(TimeError::InvalidDate)
        );
    }

    #[test]
    fn rejects_other_iso_forms() {
        for s in [
            "2016-05-24T08:38:08Z",
            "2016-05-24T08:38:08.69Z",
            "2016-05-24T08:38:08.6990Z",
            "2016-05-24 08:38:08.699Z",
            "2016-05-24T08:38:08.699z",
            "2016-05-24T08:38:08.699",
            "2016-05-24T08:38:08.699+0400",
            "2016-05-24T08:38:08.699+20:00",
            "2016-05-24T08:38:08.699+04:60",
            "2016-05-24T24:00:00.000Z",
            "2016-05-24T23:60:00.000Z",
            "2016-05-24T23:59:60.000Z",
            "0999-05-24T08:38:08.699Z",
            "+2016-05-24T08:38:08.699Z",
            "2016-05-24T08:38:08.699ZZ",
            "",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert_eq!(
            parse("9999-12-31T23:59:59.999-01:00"),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn formats_in_utc_with_milliseconds() {
        let t = parse("2016-05-24T08:38:08.699-04:00").unwrap();
        assert_eq!(format(t), "2016-05-24T12:38:08.699Z");
        assert_eq!(
            format(datetime!(2030-01-01 00:00:00.123_999 UTC)),
            "2030-01-01T00:00:00.123Z"
        );
        assert_eq!(
            format(datetime!(1999-12-31 23:00:00 -01:00)),
            "2000-01-01T00:00:00.000Z"
        );
    }

    proptest! {
        #[test]
        fn utc_round_trip(secs in 0i64..253_402_300_799, milli in 0u16..1000) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap() + time::Duration::milliseconds(i64::from(milli));
            let text = format(t);
            prop_assert_eq!(parse(&text), Ok(t));
        }
    }
}
