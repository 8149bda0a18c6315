//! The upstreams of a session, as the views show them: a short label for a
//! call's row and the Methods table (the whole name in its tooltip), the
//! upstream filter's choices with their call counts, and whether there is
//! more than one at all (with one, nothing about upstreams is shown). Pure
//! view-model logic, tested natively.

use loom_shared::engine::Session;

/// What the views call the calls whose start did not name an upstream.
pub const UNKNOWN: &str = "unknown upstream";

/// A short name for `upstream`: `host:port` without its scheme (`http://`
/// or `https://`), a Unix socket's file name (`containerd.sock`); the
/// whole name belongs in the tooltip.
pub fn label(upstream: &str) -> String {
    if upstream.is_empty() {
        return UNKNOWN.to_owned();
    }
    if let Some(path) = upstream.strip_prefix("unix:") {
        let path = path.trim_end_matches('/');
        return match path.rsplit_once('/') {
            Some((_, name)) if !name.is_empty() => name.to_owned(),
            _ => path.to_owned(),
        };
    }
    let bare = upstream
        .strip_prefix("http://")
        .or_else(|| upstream.strip_prefix("https://"))
        .unwrap_or(upstream);
    bare.trim_end_matches('/').to_owned()
}

/// The whole name, for tooltips and the filter's choices (the empty name
/// said in words).
pub fn full_name(upstream: &str) -> &str {
    if upstream.is_empty() {
        UNKNOWN
    } else {
        upstream
    }
}

/// Whether the session's calls went to more than one upstream: the views
/// show upstreams only then.
pub fn several(session: &Session) -> bool {
    session.upstreams().len() > 1
}

/// One choice of the upstream filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The filter's value: the upstream as captured.
    pub value: String,
    /// `https://api.example:443 (12)`.
    pub text: String,
}

/// The upstream filter's choices: every upstream with calls, by name, with
/// how many; plus `selected` when it has none now (so that a filter from a
/// link still shows as chosen).
pub fn choices(session: &Session, selected: Option<&str>) -> Vec<Choice> {
    let mut out: Vec<Choice> = session
        .upstreams()
        .into_iter()
        .map(|u| Choice {
            value: u.upstream.to_string(),
            text: format!("{} ({})", full_name(&u.upstream), u.calls),
        })
        .collect();
    if let Some(selected) = selected
        && !out.iter().any(|c| c.value == selected)
    {
        out.push(Choice {
            value: selected.to_owned(),
            text: format!("{} (0)", full_name(selected)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::pb;

    #[test]
    fn labels_drop_the_scheme_and_keep_a_sockets_name() {
        assert_eq!(label("http://127.0.0.1:50051"), "127.0.0.1:50051");
        assert_eq!(label("https://api.example:443/"), "api.example:443");
        assert_eq!(
            label("unix:/run/containerd/containerd.sock"),
            "containerd.sock"
        );
        assert_eq!(label("unix:relative.sock"), "relative.sock");
        assert_eq!(label("10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(label(""), UNKNOWN);
        assert_eq!(full_name(""), UNKNOWN);
        assert_eq!(full_name("unix:/a.sock"), "unix:/a.sock");
    }

    #[test]
    fn choices_count_calls_per_upstream() {
        let call = |id: u64, upstream: &str| {
            pb::Event::new(
                id,
                pb::CallStarted {
                    path: "/a.Svc/Get".into(),
                    upstream: upstream.into(),
                    ..Default::default()
                },
            )
        };
        let one = Session::from_events([call(1, "http://a:1"), call(2, "http://a:1")]);
        assert!(!several(&one));
        let s = Session::from_events([
            call(1, "http://a:1"),
            call(2, "unix:/run/b.sock"),
            call(3, "http://a:1"),
        ]);
        assert!(several(&s));
        let texts = |selected| {
            choices(&s, selected)
                .into_iter()
                .map(|c| (c.value, c.text))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            texts(None),
            [
                ("http://a:1".to_owned(), "http://a:1 (2)".to_owned()),
                (
                    "unix:/run/b.sock".to_owned(),
                    "unix:/run/b.sock (1)".to_owned()
                ),
            ]
        );
        assert_eq!(
            texts(Some("http://gone:1")).last().unwrap().1,
            "http://gone:1 (0)"
        );
    }
}
