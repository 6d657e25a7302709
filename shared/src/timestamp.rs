//! RFC 3339 timestamps in UTC, as the API writes them: `2026-01-22T10:15:00.123456Z`, with as many
//! fraction digits as needed (none for a whole second). Written without allocating: a list page
//! formats a hundred of them, which showed up against the list's database floor.

use serde::Serializer;
use time::{OffsetDateTime, UtcOffset};

/// For `#[serde(serialize_with = "crate::timestamp::rfc3339")]`.
pub fn rfc3339<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    let len = write(at.to_offset(UtcOffset::UTC), &mut buf);
    // Only ASCII digits and separators were written.
    serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default())
}

fn write(at: OffsetDateTime, buf: &mut [u8; 30]) -> usize {
    fn digits(buf: &mut [u8], mut value: u32) {
        for slot in buf.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    // PostgreSQL timestamps are years 1 to 9999 at most in practice; clamp rather than misprint.
    digits(&mut buf[0..4], at.year().clamp(0, 9999) as u32);
    buf[4] = b'-';
    digits(&mut buf[5..7], u8::from(at.month()) as u32);
    buf[7] = b'-';
    digits(&mut buf[8..10], at.day() as u32);
    buf[10] = b'T';
    digits(&mut buf[11..13], at.hour() as u32);
    buf[13] = b':';
    digits(&mut buf[14..16], at.minute() as u32);
    buf[16] = b':';
    digits(&mut buf[17..19], at.second() as u32);
    let mut len = 19;
    let nanos = at.nanosecond();
    if nanos > 0 {
        buf[19] = b'.';
        digits(&mut buf[20..29], nanos);
        len = 29;
        while buf[len - 1] == b'0' {
            len -= 1;
        }
    }
    buf[len] = b'Z';
    len + 1
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;
    use time::macros::datetime;

    use super::*;

    fn text(at: OffsetDateTime) -> String {
        let mut buf = [0u8; 30];
        let len = write(at.to_offset(UtcOffset::UTC), &mut buf);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn timestamps_match_the_time_crates_rfc3339_in_utc() {
        for at in [
            datetime!(2026-01-22 10:15:00 UTC),
            datetime!(2026-01-22 10:15:00.123456 UTC),
            datetime!(2026-01-22 10:15:00.1 UTC),
            datetime!(1999-12-31 23:59:59.000001 UTC),
            datetime!(0001-01-01 00:00:00 UTC),
            datetime!(2026-06-30 23:30:00.5 +02:00),
        ] {
            let expected = at.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap();
            assert_eq!(text(at), expected);
        }
        assert_eq!(
            text(datetime!(2026-01-22 10:15:00.123456 UTC)),
            "2026-01-22T10:15:00.123456Z"
        );
    }
}
