//! The strings many calls share, kept once per session: each distinct
//! `:path` (with its split form and the name a list shows) and each distinct
//! authority or upstream. A call's summary holds reference-counted pointers
//! to them, so a million calls of a few methods cost a few strings, not
//! three million. The TLS sessions of a call's two hops (format 1.3) are
//! shared the same way: every call over connections to one server has the
//! same facts.
//!
//! Not a general interner: nothing is ever forgotten (a session's distinct
//! names are few; a capture with a distinct path per call costs what it
//! did before), and only the summary's names go through it. TLS sessions,
//! which cannot be hashed, are looked up among the last
//! [`RECENT_TLS_SESSIONS`] distinct ones only, so a capture with a distinct
//! session per call costs what it would unshared, and no more time.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::engine::schema::MethodPath;
use crate::pb;

/// How many distinct TLS sessions [`Names::tls`] remembers.
pub(crate) const RECENT_TLS_SESSIONS: usize = 16;

/// A `:path` and what is derived from it, shared by every call of it.
#[derive(Debug, Clone)]
pub(crate) struct PathNames {
    pub path: Arc<str>,
    pub method: Option<Arc<MethodPath>>,
    /// `package.Service/Method`, or the raw path when it is not of that form.
    pub name: Arc<str>,
}

/// Every name the session's calls share.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    paths: HashMap<Arc<str>, PathNames, foldhash::fast::RandomState>,
    hosts: HashSet<Arc<str>, foldhash::fast::RandomState>,
    /// The last distinct TLS sessions seen, newest last.
    tls: VecDeque<Arc<pb::TlsSession>>,
    empty: Arc<str>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            paths: HashMap::default(),
            hosts: HashSet::default(),
            tls: VecDeque::new(),
            empty: Arc::from(""),
        }
    }
}

impl Names {
    /// The empty string, for calls whose start was not captured.
    pub(crate) fn empty(&self) -> Arc<str> {
        self.empty.clone()
    }

    /// The shared names of `path`.
    pub(crate) fn path(&mut self, path: &str) -> PathNames {
        if let Some(names) = self.paths.get(path) {
            return names.clone();
        }
        let method = MethodPath::parse(path).map(Arc::new);
        let shared: Arc<str> = Arc::from(path);
        let name = method
            .as_ref()
            .map_or_else(|| shared.clone(), |m| Arc::from(m.full_name()));
        let names = PathNames {
            path: shared.clone(),
            method,
            name,
        };
        self.paths.insert(shared, names.clone());
        names
    }

    /// The shared copy of an authority or upstream.
    pub(crate) fn host(&mut self, host: &str) -> Arc<str> {
        if let Some(shared) = self.hosts.get(host) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(host);
        self.hosts.insert(shared.clone());
        shared
    }

    /// The shared copy of a TLS session's facts.
    pub(crate) fn tls(&mut self, session: pb::TlsSession) -> Arc<pb::TlsSession> {
        if let Some(shared) = self.tls.iter().rev().find(|s| ***s == session) {
            return shared.clone();
        }
        let shared = Arc::new(session);
        if self.tls.len() == RECENT_TLS_SESSIONS {
            self.tls.pop_front();
        }
        self.tls.push_back(shared.clone());
        shared
    }

    /// The services of every method path seen, sorted, once each.
    pub(crate) fn services(&self) -> BTreeSet<&str> {
        self.paths
            .values()
            .filter_map(|p| p.method.as_deref())
            .map(|m| m.service.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_per_distinct_name() {
        let mut names = Names::default();
        let a = names.path("/pkg.Svc/Get");
        let b = names.path("/pkg.Svc/Get");
        assert!(Arc::ptr_eq(&a.path, &b.path));
        assert!(Arc::ptr_eq(&a.name, &b.name));
        assert_eq!(&*a.name, "pkg.Svc/Get");
        assert_eq!(
            a.method.as_deref().map(|m| m.service.as_str()),
            Some("pkg.Svc")
        );
        let raw = names.path("/not-a-method");
        assert_eq!(&*raw.name, "/not-a-method");
        assert!(raw.method.is_none());
        assert!(Arc::ptr_eq(&names.host("h:1"), &names.host("h:1")));
        let tls = |sni: &str| pb::TlsSession {
            sni: sni.into(),
            ..Default::default()
        };
        let a = names.tls(tls("a"));
        assert!(Arc::ptr_eq(&a, &names.tls(tls("a"))));
        assert!(!Arc::ptr_eq(&a, &names.tls(tls("b"))));
        // Only the recent ones are remembered; the rest are still equal.
        for n in 0..RECENT_TLS_SESSIONS {
            names.tls(tls(&n.to_string()));
        }
        let again = names.tls(tls("a"));
        assert!(!Arc::ptr_eq(&a, &again) && a == again);
        assert_eq!(names.tls.len(), RECENT_TLS_SESSIONS);
        names.path("/pkg.Other/Put");
        names.path("/pkg.Svc/Put");
        assert_eq!(
            names.services().into_iter().collect::<Vec<_>>(),
            vec!["pkg.Other", "pkg.Svc"]
        );
    }
}
