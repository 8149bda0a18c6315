//! The strings many calls share, kept once per session: each distinct
//! `:path` (with its split form and the name a list shows) and each distinct
//! authority or upstream. A call's summary holds reference-counted pointers
//! to them, so a million calls of a few methods cost a few strings, not
//! three million.
//!
//! Not a general interner: nothing is ever forgotten (a session's distinct
//! names are few; a capture with a distinct path per call costs what it
//! did before), and only the summary's names go through it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::engine::schema::MethodPath;

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
    empty: Arc<str>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            paths: HashMap::default(),
            hosts: HashSet::default(),
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
        names.path("/pkg.Other/Put");
        names.path("/pkg.Svc/Put");
        assert_eq!(
            names.services().into_iter().collect::<Vec<_>>(),
            vec!["pkg.Other", "pkg.Svc"]
        );
    }
}
