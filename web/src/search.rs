//! Live search: the free-text box filters as the user types.
//!
//! Each keystroke starts a new *run* ([`Runs::begin`]) and so supersedes the
//! one before it: a run waits [`DEBOUNCE_MS`] first, then searches the
//! engine's index (`loom_shared::engine::Search`) in slices of about
//! [`SLICE_MS`], yielding to the browser between slices, and stops at the
//! first yield after a newer run began. Typing therefore never queues
//! searches. A run that takes longer than [`PROGRESS_AFTER_MS`] shows
//! [`progress_text`] in the list's status line.
//!
//! # Layout
//! This file is the model (the run ledger, timings, the progress text),
//! native and tested natively; [`run`] (wasm only) drives it with timers and
//! the app's state.

#[cfg(target_arch = "wasm32")]
pub mod run;

use crate::format;

/// How long typing must pause before a search runs.
pub const DEBOUNCE_MS: u32 = 150;
/// A search running longer than this shows its progress.
pub const PROGRESS_AFTER_MS: f64 = 200.0;
/// Work done between two yields to the browser.
pub const SLICE_MS: f64 = 8.0;
/// Calls looked at between two looks at the clock.
pub const BATCH: usize = 256;

/// Which search is current. Every run holds the generation it began with,
/// and gives up as soon as it is no longer current.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runs {
    generation: u64,
    /// The query of the current run; `None` after a cancel.
    query: Option<String>,
    /// The current run has not finished.
    running: bool,
}

impl Runs {
    /// A new run for `query`, superseding any other; its generation.
    pub fn begin(&mut self, query: &str) -> u64 {
        self.generation += 1;
        self.query = Some(query.to_owned());
        self.running = true;
        self.generation
    }

    /// Run `generation` is done (if it is still the current one).
    pub fn finish(&mut self, generation: u64) {
        if self.is_current(generation) {
            self.running = false;
        }
    }

    /// A run is waiting or searching.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops whatever runs (the search was cleared).
    pub fn cancel(&mut self) {
        self.generation += 1;
        self.query = None;
        self.running = false;
    }

    /// Run `generation` is still the one that counts.
    pub fn is_current(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// The current run is for `query` already (so Enter need not start
    /// another).
    pub fn is_for(&self, query: &str) -> bool {
        self.query.as_deref() == Some(query)
    }
}

/// `searching 72,525 calls… 40 %`.
pub fn progress_text(done: usize, total: usize) -> String {
    let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    format!("searching {} calls… {percent} %", format::count(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_supersedes_the_last() {
        let mut runs = Runs::default();
        let first = runs.begin("a");
        assert!(runs.is_current(first) && runs.is_for("a"));
        let second = runs.begin("ab");
        assert!(!runs.is_current(first), "the next keystroke supersedes");
        assert!(runs.is_current(second) && runs.is_for("ab") && !runs.is_for("a"));
        assert!(runs.is_running());
        runs.finish(first);
        assert!(
            runs.is_running(),
            "a superseded run finishing changes nothing"
        );
        runs.finish(second);
        assert!(!runs.is_running() && runs.is_for("ab"));
        let third = runs.begin("abc");
        runs.cancel();
        assert!(!runs.is_current(third) && !runs.is_running());
        assert!(!runs.is_current(second) && !runs.is_for("ab"));
    }

    #[test]
    fn progress_reads_as_calls_and_percent() {
        assert_eq!(
            progress_text(29_010, 72_525),
            "searching 72,525 calls… 40 %"
        );
        assert_eq!(progress_text(0, 0), "searching 0 calls… 100 %");
        assert_eq!(progress_text(9, 3), "searching 3 calls… 100 %");
    }
}
