//! When things happened in a call, and RFC 3339 timestamps.

use serde_json::{Map, Value, json};

/// A call's timeline, in nanoseconds since its start (`start_unix_nanos`,
/// wall-clock). `None` for what has not happened (or was not captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// When the request headers arrived, nanoseconds since the Unix epoch
    /// (wall-clock; the one field here that is not an offset). `None` when
    /// the call's start was not captured.
    pub start_unix_nanos: Option<i64>,
    /// When the response headers arrived. `None` for a trailers-only
    /// response as well.
    pub response_headers: Option<u64>,
    /// The earliest request message (each message is timed when its last
    /// byte arrived).
    pub first_request: Option<u64>,
    /// The latest request message.
    pub last_request: Option<u64>,
    /// The earliest response message.
    pub first_response: Option<u64>,
    /// The latest response message.
    pub last_response: Option<u64>,
    /// When the call ended: its total duration.
    pub ended: Option<u64>,
}

impl Timing {
    /// Time to the first message in either direction.
    pub fn first_message(&self) -> Option<u64> {
        min_some(self.first_request, self.first_response)
    }

    /// Time to the last message in either direction.
    pub fn last_message(&self) -> Option<u64> {
        self.last_request.max(self.last_response)
    }

    /// Records a message at `offset` (requests when `request`).
    pub(crate) fn message(&mut self, request: bool, offset: u64) {
        let (first, last) = if request {
            (&mut self.first_request, &mut self.last_request)
        } else {
            (&mut self.first_response, &mut self.last_response)
        };
        *first = min_some(*first, Some(offset));
        *last = (*last).max(Some(offset));
    }

    /// `{"start": RFC 3339, "responseHeadersNanos", "firstMessageNanos", ...}`,
    /// leaving out what did not happen.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(start) = self.start_unix_nanos {
            out.insert("start".into(), json!(rfc3339(start)));
        }
        for (key, value) in [
            ("responseHeadersNanos", self.response_headers),
            ("firstMessageNanos", self.first_message()),
            ("lastMessageNanos", self.last_message()),
            ("firstRequestNanos", self.first_request),
            ("lastRequestNanos", self.last_request),
            ("firstResponseNanos", self.first_response),
            ("lastResponseNanos", self.last_response),
            ("totalNanos", self.ended),
        ] {
            if let Some(value) = value {
                out.insert(key.into(), json!(value));
            }
        }
        Value::Object(out)
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Nanoseconds since the Unix epoch as RFC 3339 in UTC with nanoseconds:
/// `2023-11-14T22:13:20.000000000Z`.
pub fn rfc3339(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    format!("{}.{nanos:09}Z", date_time(secs))
}

/// Seconds since the Unix epoch as RFC 3339 in UTC, to the second:
/// `2023-11-14T22:13:20Z` (a certificate's validity).
pub fn rfc3339_seconds(unix_seconds: i64) -> String {
    format!("{}Z", date_time(unix_seconds))
}

/// `2023-11-14T22:13:20`: the date and time of day of a Unix time.
fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20.000000000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_123_456_789),
            "2000-02-29T00:00:00.123456789Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        // Extremes do not panic.
        let _ = rfc3339(i64::MIN);
        let _ = rfc3339(i64::MAX);
        assert_eq!(rfc3339_seconds(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_seconds(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_seconds(-1), "1969-12-31T23:59:59Z");
        let _ = rfc3339_seconds(i64::MIN);
        let _ = rfc3339_seconds(i64::MAX);
    }

    #[test]
    fn timeline() {
        let mut t = Timing::default();
        t.message(true, 50);
        t.message(false, 70);
        t.message(true, 20);
        t.message(false, 90);
        assert_eq!((t.first_request, t.last_request), (Some(20), Some(50)));
        assert_eq!((t.first_response, t.last_response), (Some(70), Some(90)));
        assert_eq!((t.first_message(), t.last_message()), (Some(20), Some(90)));
        t.ended = Some(100);
        assert_eq!(
            t.to_json(),
            json!({"firstMessageNanos": 20, "lastMessageNanos": 90, "firstRequestNanos": 20,
                   "lastRequestNanos": 50, "firstResponseNanos": 70, "lastResponseNanos": 90,
                   "totalNanos": 100})
        );
    }
}
