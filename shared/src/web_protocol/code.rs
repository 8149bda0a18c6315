//! Status codes across the family: gRPC's numbers, Connect's names
//! (`not_found`) and the HTTP statuses Connect unary uses for each, and
//! gRPC's mapping of an HTTP status that came with no gRPC status.

/// gRPC's codes by number, with Connect's name and Connect's HTTP status.
const CODES: [(u32, &str, u16); 17] = [
    (0, "ok", 200),
    (1, "canceled", 499),
    (2, "unknown", 500),
    (3, "invalid_argument", 400),
    (4, "deadline_exceeded", 504),
    (5, "not_found", 404),
    (6, "already_exists", 409),
    (7, "permission_denied", 403),
    (8, "resource_exhausted", 429),
    (9, "failed_precondition", 400),
    (10, "aborted", 409),
    (11, "out_of_range", 400),
    (12, "unimplemented", 501),
    (13, "internal", 500),
    (14, "unavailable", 503),
    (15, "data_loss", 500),
    (16, "unauthenticated", 401),
];

/// The gRPC code of a Connect code name (`None` for a name it does not
/// know).
pub fn from_connect(name: &str) -> Option<u32> {
    CODES
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|(c, _, _)| *c)
}

/// Connect's name for a gRPC code (`unknown` past 16).
pub fn to_connect(code: u32) -> &'static str {
    CODES.get(code as usize).map_or("unknown", |(_, n, _)| n)
}

/// The HTTP status Connect unary answers an error of `code` with.
pub fn connect_http_status(code: u32) -> u16 {
    CODES.get(code as usize).map_or(500, |(_, _, s)| *s)
}

/// The gRPC code of an HTTP status that came with no gRPC (or Connect)
/// status, as gRPC's `http-grpc-status-mapping.md` maps it (and 200 to OK,
/// for Connect unary, where 200 is success).
pub fn from_http_status(status: u16) -> u32 {
    match status {
        200 => 0,
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_statuses_round_trip() {
        for code in 0..17 {
            assert_eq!(from_connect(to_connect(code)), Some(code));
        }
        assert_eq!(from_connect("nope"), None);
        assert_eq!(to_connect(99), "unknown");
        assert_eq!(connect_http_status(5), 404);
        assert_eq!(connect_http_status(14), 503);
        assert_eq!(from_http_status(503), 14);
        assert_eq!(from_http_status(404), 12);
        assert_eq!(from_http_status(418), 2);
    }
}
