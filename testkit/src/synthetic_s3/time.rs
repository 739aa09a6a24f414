//! Timestamps as S3 writes them: HTTP dates for headers and ISO 8601 for XML.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
const SECONDS_PER_DAY: u64 = 86_400;

/// Day names from Thursday, the weekday of 1970-01-01.
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Month names in HTTP-date form.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A time broken into UTC calendar fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    seconds_of_day: u64,
    days: u64,
}

fn civil(time: SystemTime) -> Civil {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let days = seconds / SECONDS_PER_DAY;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        seconds_of_day: seconds % SECONDS_PER_DAY,
        days,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`, the IMF-fixdate of `Last-Modified`.
pub fn http_date(time: SystemTime) -> String {
    let c = civil(time);
    let s = c.seconds_of_day;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(c.days % 7) as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `2024-01-31T08:49:37.000Z`, the timestamp form of S3's XML.
pub fn iso8601(time: SystemTime) -> String {
    let c = civil(time);
    let s = c.seconds_of_day;
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        c.year,
        c.month,
        c.day,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(iso8601(t), "1994-11-06T08:49:37.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_164_800);
        assert_eq!(iso8601(leap), "2024-02-29T00:00:00.000Z");
    }
}
