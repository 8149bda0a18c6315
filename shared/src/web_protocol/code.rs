//! Status codes across the family: gRPC's numbers, Connect's names
//! (`not_found`) and the HTTP status Connect unary answers each with, and
//! the code of an HTTP status that came with no status of the protocol's
//! own (gRPC's `http-grpc-status-mapping.md`, which Connect's spec and
//! connect-go use too).
//!
//! Codes are `u32`, as the capture's `grpc_status` is. What it is not:
//! where a status is found in a response ([`super::status`]).

/// `OK`.
pub const OK: u32 = 0;
/// `CANCELLED` (Connect: `canceled`).
pub const CANCELLED: u32 = 1;
/// `UNKNOWN`.
pub const UNKNOWN: u32 = 2;
/// `INVALID_ARGUMENT`.
pub const INVALID_ARGUMENT: u32 = 3;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u32 = 4;
/// `NOT_FOUND`.
pub const NOT_FOUND: u32 = 5;
/// `ALREADY_EXISTS`.
pub const ALREADY_EXISTS: u32 = 6;
/// `PERMISSION_DENIED`.
pub const PERMISSION_DENIED: u32 = 7;
/// `RESOURCE_EXHAUSTED`.
pub const RESOURCE_EXHAUSTED: u32 = 8;
/// `FAILED_PRECONDITION`.
pub const FAILED_PRECONDITION: u32 = 9;
/// `ABORTED`.
pub const ABORTED: u32 = 10;
/// `OUT_OF_RANGE`.
pub const OUT_OF_RANGE: u32 = 11;
/// `UNIMPLEMENTED`.
pub const UNIMPLEMENTED: u32 = 12;
/// `INTERNAL`.
pub const INTERNAL: u32 = 13;
/// `UNAVAILABLE`.
pub const UNAVAILABLE: u32 = 14;
/// `DATA_LOSS`.
pub const DATA_LOSS: u32 = 15;
/// `UNAUTHENTICATED`.
pub const UNAUTHENTICATED: u32 = 16;

/// gRPC's codes by number, with Connect's name and Connect's HTTP status.
const CODES: [(u32, &str, u16); 17] = [
    (OK, "ok", 200),
    (CANCELLED, "canceled", 499),
    (UNKNOWN, "unknown", 500),
    (INVALID_ARGUMENT, "invalid_argument", 400),
    (DEADLINE_EXCEEDED, "deadline_exceeded", 504),
    (NOT_FOUND, "not_found", 404),
    (ALREADY_EXISTS, "already_exists", 409),
    (PERMISSION_DENIED, "permission_denied", 403),
    (RESOURCE_EXHAUSTED, "resource_exhausted", 429),
    (FAILED_PRECONDITION, "failed_precondition", 400),
    (ABORTED, "aborted", 409),
    (OUT_OF_RANGE, "out_of_range", 400),
    (UNIMPLEMENTED, "unimplemented", 501),
    (INTERNAL, "internal", 500),
    (UNAVAILABLE, "unavailable", 503),
    (DATA_LOSS, "data_loss", 500),
    (UNAUTHENTICATED, "unauthenticated", 401),
];

/// The gRPC code of a Connect error code (`None` for a name Connect does
/// not define, and for `ok`, which is no error code: connect-go reads
/// both as no code at all).
pub fn from_connect(name: &str) -> Option<u32> {
    CODES[1..]
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|(c, _, _)| *c)
}

/// Connect's name for a gRPC code (`ok` for 0, `unknown` past 16).
pub fn to_connect(code: u32) -> &'static str {
    index(code).map_or("unknown", |i| CODES[i].1)
}

/// The HTTP status Connect unary answers an error of `code` with (200
/// for 0, 500 past 16).
pub fn connect_http_status(code: u32) -> u16 {
    index(code).map_or(500, |i| CODES[i].2)
}

/// The gRPC code of an HTTP status that came with no status of the
/// protocol's own: 400 `INTERNAL`, 401 `UNAUTHENTICATED`, 403
/// `PERMISSION_DENIED`, 404 `UNIMPLEMENTED`, 429, 502, 503 and 504
/// `UNAVAILABLE`, anything else `UNKNOWN`, and 200 `OK` (for Connect
/// unary, where 200 is success; gRPC itself never reaches here with 200).
pub fn from_http_status(status: u16) -> u32 {
    match status {
        200 => OK,
        400 => INTERNAL,
        401 => UNAUTHENTICATED,
        403 => PERMISSION_DENIED,
        404 => UNIMPLEMENTED,
        429 | 502..=504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

fn index(code: u32) -> Option<usize> {
    usize::try_from(code).ok().filter(|&i| i < CODES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_statuses_round_trip() {
        for code in 1..17 {
            assert_eq!(from_connect(to_connect(code)), Some(code));
        }
        assert_eq!(from_connect("ok"), None);
        assert_eq!(from_connect("NOT_FOUND"), None, "names are lower case");
        assert_eq!(from_connect("code_17"), None);
        assert_eq!((to_connect(0), to_connect(99)), ("ok", "unknown"));
        assert_eq!(to_connect(CANCELLED), "canceled");
        let statuses: Vec<u16> = (0..18).map(connect_http_status).collect();
        assert_eq!(
            statuses,
            [
                200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500,
                401, 500
            ]
        );
    }

    #[test]
    fn http_statuses_map_as_grpc_says() {
        let table = [
            (200, OK),
            (400, INTERNAL),
            (401, UNAUTHENTICATED),
            (403, PERMISSION_DENIED),
            (404, UNIMPLEMENTED),
            (429, UNAVAILABLE),
            (502, UNAVAILABLE),
            (503, UNAVAILABLE),
            (504, UNAVAILABLE),
            (409, UNKNOWN),
            (418, UNKNOWN),
            (500, UNKNOWN),
            (501, UNKNOWN),
            (0, UNKNOWN),
        ];
        for (status, code) in table {
            assert_eq!(from_http_status(status), code, "{status}");
        }
    }
}
