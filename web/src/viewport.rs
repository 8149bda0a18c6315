//! The arithmetic of the virtualized call list: which rows are in view, how
//! tall the scroll area is, and whether the view follows the tail. Only the
//! rows in view (plus a small margin) are ever in the DOM.

/// Rows rendered above and below the visible ones, for smooth scrolling.
pub const OVERSCAN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub scroll_top: f64,
    pub height: f64,
    pub row_height: f64,
}

impl Viewport {
    /// The half-open range of row indexes to render, out of `rows`.
    pub fn window(&self, rows: usize) -> (usize, usize) {
        if rows == 0 || self.row_height <= 0.0 {
            return (0, 0);
        }
        let first = (self.scroll_top.max(0.0) / self.row_height).floor() as usize;
        let visible = (self.height.max(0.0) / self.row_height).ceil() as usize + 1;
        let start = first.saturating_sub(OVERSCAN).min(rows);
        let end = first
            .saturating_add(visible)
            .saturating_add(OVERSCAN)
            .min(rows);
        (start, end)
    }

    /// Total height of the scroll content.
    pub fn content_height(&self, rows: usize) -> f64 {
        rows as f64 * self.row_height
    }

    /// The view is at (or within a row of) the bottom: new rows should scroll
    /// it along.
    pub fn at_bottom(&self, rows: usize) -> bool {
        self.scroll_top + self.height >= self.content_height(rows) - self.row_height
    }

    /// The scroll position that shows row `index` fully, if it is not in view.
    pub fn reveal(&self, index: usize) -> Option<f64> {
        let top = index as f64 * self.row_height;
        if top < self.scroll_top {
            Some(top)
        } else if top + self.row_height > self.scroll_top + self.height {
            Some(top + self.row_height - self.height)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(scroll_top: f64) -> Viewport {
        Viewport {
            scroll_top,
            height: 280.0,
            row_height: 28.0,
        }
    }

    #[test]
    fn renders_only_the_rows_in_view() {
        assert_eq!(vp(0.0).window(100_000), (0, 11 + OVERSCAN));
        let (start, end) = vp(28.0 * 50_000.0).window(100_000);
        assert_eq!(start, 50_000 - OVERSCAN);
        assert!(end - start < 40);
        assert_eq!(vp(0.0).window(0), (0, 0));
        assert_eq!(vp(1e9).window(10), (10, 10));
    }

    #[test]
    fn follows_the_tail_only_at_the_bottom() {
        assert!(vp(28.0 * 90.0).at_bottom(100));
        assert!(!vp(0.0).at_bottom(100));
        assert!(vp(0.0).at_bottom(3));
    }

    #[test]
    fn reveals_rows_out_of_view() {
        assert_eq!(vp(0.0).reveal(3), None);
        assert_eq!(vp(280.0).reveal(0), Some(0.0));
        assert_eq!(vp(0.0).reveal(20), Some(21.0 * 28.0 - 280.0));
    }
}
