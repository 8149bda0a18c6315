//! The inspector's layout as measured in the page, for the layout tests:
//! [`check`] runs `layout.js` (getBoundingClientRect and scrollWidth, never
//! pixels) and returns what is wrong, in words, with a few measurements.
//!
//! What it checks: the viewport and color scheme are the ones asked for;
//! toolbar, filters, banner, panes and status bar stack without gaps and the
//! page never scrolls; neither pane overflows sideways; the banner takes at
//! most two lines, its full text in the tooltip; no call-list cell is cut or
//! past the pane's edge (the method may ellipsise, with a tooltip); the
//! Methods table's numbers stay on one line, inside the pane, with every
//! column shown from 1280 px up.
//!
//! Not here: driving the page (`inspector`), or the browser (`browser`).

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use crate::browser::Browser;

const LAYOUT_JS: &str = include_str!("layout.js");

/// A window size and color scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    pub dark: bool,
}

impl Screen {
    /// `1400x900-light`, as in screenshot names.
    pub fn name(&self) -> String {
        format!(
            "{}x{}-{}",
            self.width,
            self.height,
            if self.dark { "dark" } else { "light" }
        )
    }

    /// `target/screenshots/<page>-<name>.png`.
    pub fn screenshot_path(&self, page: &str) -> PathBuf {
        crate::target_dir()
            .join("screenshots")
            .join(format!("{page}-{}.png", self.name()))
    }
}

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct Layout {
    /// What is wrong, one sentence each; empty when the layout holds.
    pub problems: Vec<String>,
    /// Sizes measured on the way (pane widths, banner height …), for logs.
    pub metrics: Json,
}

/// Measure the page as it is now, on `screen`.
pub async fn check(browser: &Browser, screen: Screen) -> Layout {
    let value = browser
        .js(
            LAYOUT_JS,
            vec![json!({ "w": screen.width, "h": screen.height, "dark": screen.dark })],
        )
        .await;
    let problems = value["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| vec![format!("the layout script returned {value}")]);
    Layout {
        problems,
        metrics: value["metrics"].clone(),
    }
}
