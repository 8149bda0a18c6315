// The inspector's layout, measured in the page (getBoundingClientRect,
// scrollWidth): returns { problems: [..], metrics: {..} }. Run by
// `loom_tests::layout::check`; `arguments[0]` is { w, h, dark }.
const want = arguments[0];
const problems = [];
const metrics = {};
const px = (v) => Math.round(v * 10) / 10;
const q = (css) => document.querySelector(css);
const box = (e) => e.getBoundingClientRect();
const shown = (e) => getComputedStyle(e).display !== 'none';
const near = (a, b, what) => {
  if (Math.abs(a - b) > 2) problems.push(`${what}: ${px(a)} px, expected ${px(b)} px`);
};
const describe = (e) => {
  if (e.dataset && e.dataset.test) return `[data-test=${e.dataset.test}]`;
  const cls = typeof e.className === 'string' && e.className.trim()
    ? '.' + e.className.trim().split(/\s+/).join('.') : '';
  return e.tagName.toLowerCase() + cls;
};
// How many lines a cell's text takes: one client rect per line box.
const lines = (e) => {
  const range = document.createRange();
  range.selectNodeContents(e);
  return new Set(Array.from(range.getClientRects())
    .filter((r) => r.width > 0)
    .map((r) => Math.round(r.top))).size;
};
// Something clips or scrolls `e` before `pane` would.
const clippedInside = (e, pane) => {
  for (let p = e.parentElement; p && p !== pane; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true;
  }
  return false;
};
// The pane does not scroll sideways, and nothing in it sticks out past its
// right edge (the vertical scrollbar excluded).
const fitsPane = (pane, what) => {
  if (pane.scrollWidth > pane.clientWidth) {
    problems.push(`${what} scrolls sideways: scrollWidth ${pane.scrollWidth} > clientWidth ${pane.clientWidth}`);
  }
  const right = box(pane).left + pane.clientWidth;
  let reported = 0;
  for (const e of pane.querySelectorAll('*')) {
    const r = box(e);
    if (r.width === 0 || r.right <= right + 0.5 || clippedInside(e, pane)) continue;
    problems.push(`${describe(e)} in ${what} ends at ${px(r.right)} px, past its edge at ${px(right)} px`);
    if (++reported >= 3) break;
  }
};

// The window and the page as a whole.
if (innerWidth !== want.w || innerHeight !== want.h) {
  problems.push(`the viewport is ${innerWidth}×${innerHeight}, not ${want.w}×${want.h}`);
}
if (matchMedia('(prefers-color-scheme: dark)').matches !== want.dark) {
  problems.push(`the page does not see the ${want.dark ? 'dark' : 'light'} color scheme`);
}
metrics.background = getComputedStyle(document.body).backgroundColor;
const doc = document.documentElement;
if (doc.scrollWidth > innerWidth) problems.push(`the page scrolls sideways: ${doc.scrollWidth} > ${innerWidth}`);
if (doc.scrollHeight > innerHeight) problems.push(`the page scrolls: ${doc.scrollHeight} > ${innerHeight}`);

// Toolbar, filters, banner, panes and status bar stack without gaps, and
// the panes take the rest of the height.
const [bar, filters, notice, main, list, detail, status] = ['.topbar', '.filters',
  '[data-test=notice]', '.main', '.list', '.detail', '.statusbar'].map(q);
for (const [e, what] of [[bar, 'toolbar'], [filters, 'filters'], [main, 'panes'],
  [list, 'list pane'], [detail, 'detail pane'], [status, 'status bar']]) {
  if (!e) problems.push(`no ${what}`);
}
if (problems.some((p) => p.startsWith('no '))) return { problems, metrics };
metrics.toolbar = px(box(bar).height);
metrics.filters = px(box(filters).height);
if (box(bar).height > 48) problems.push(`the toolbar takes ${px(box(bar).height)} px: more than one line`);
if (box(filters).height > 48) problems.push(`the filters take ${px(box(filters).height)} px: more than one line`);
near(box(filters).top, box(bar).bottom, 'the filters\' top (under the toolbar)');
const above = notice || filters;
near(box(main).top, box(above).bottom, `the panes' top (under the ${notice ? 'banner' : 'filters'})`);
near(box(list).top, box(bar).bottom + box(filters).height + (notice ? box(notice).height : 0),
  'the list pane\'s top (toolbar, filters and banner above it)');
near(box(main).bottom, box(status).top, 'the panes\' bottom (on the status bar)');
near(box(status).bottom, innerHeight, 'the status bar\'s bottom (the window\'s)');
metrics.list = px(box(list).width);
metrics.detail = px(box(detail).width);
fitsPane(list, 'the list pane');
fitsPane(detail, 'the detail pane');

// The banner: at most two lines, its whole text in the tooltip.
if (notice) {
  const text = notice.querySelector('[data-test=notice-text]');
  if (!text) {
    problems.push('the banner has no [data-test=notice-text]');
  } else {
    const lh = parseFloat(getComputedStyle(text).lineHeight);
    const n = Math.round(box(text).height / lh);
    metrics.bannerLines = n;
    metrics.banner = px(box(notice).height);
    if (n > 2) problems.push(`the banner's text takes ${n} lines`);
    if (box(notice).height > 2 * lh + 20) problems.push(`the banner is ${px(box(notice).height)} px high`);
    if (text.title.trim() !== text.textContent.trim() || !text.title.trim()) {
      problems.push(`the banner's tooltip is not its full text: ${JSON.stringify(text.title)}`);
    }
  }
}

// The call list: no cell cut or past the pane's edge; the method column
// (the one that may ellipsise) has the full name in its tooltip and takes
// the spare width.
const listRight = box(list).left + list.clientWidth;
const head = list.querySelector('.list-head');
const columns = head ? Array.from(head.children).map((c) => c.textContent.trim()) : [];
metrics.rows = 0;
for (const row of list.querySelectorAll('.list-head, [data-test=call-row]')) {
  if (box(row).bottom < box(list).top || box(row).top > box(list).bottom) continue;
  metrics.rows += 1;
  const which = row.dataset.call ? `row ${row.dataset.call}` : 'the list\'s head';
  Array.from(row.children).forEach((cell, i) => {
    if (!shown(cell)) return;
    const column = columns[i] || `column ${i + 1}`;
    const r = box(cell);
    if (r.right > listRight + 0.5) {
      problems.push(`${which}: ${column} ends at ${px(r.right)} px, past the pane's edge at ${px(listRight)} px`);
    }
    if (cell.classList.contains('method')) {
      metrics.methodColumn = px(r.width);
      if (row.dataset.call && !cell.title) problems.push(`${which}: the method has no tooltip`);
      return;
    }
    if (cell.scrollWidth > cell.clientWidth + 0.5) {
      problems.push(`${which}: ${column} ${JSON.stringify(cell.textContent)} is cut (${cell.scrollWidth} > ${cell.clientWidth} px)`);
    }
  });
}
if (metrics.methodColumn !== undefined && metrics.methodColumn < 110) {
  problems.push(`the method column is only ${metrics.methodColumn} px wide`);
}

// The Methods summary: numbers on one line, nothing cut, the table and its
// latency chart inside the pane; at 1280 px and wider, every column shows.
const table = q('[data-test=summary] table.methods');
if (table) {
  const paneRight = box(detail).left + detail.clientWidth;
  metrics.methodsTable = px(box(table).width);
  if (box(table).right > paneRight + 0.5) {
    problems.push(`the Methods table ends at ${px(box(table).right)} px, past the pane's edge at ${px(paneRight)} px`);
  }
  for (const cell of table.querySelectorAll('th, td')) {
    if (!shown(cell)) continue;
    const column = cell.dataset.col || describe(cell);
    if (box(cell).right > paneRight + 0.5) problems.push(`Methods: ${column} is past the pane's edge`);
    if (cell.dataset.col === 'method') {
      if (cell.tagName === 'TD' && !cell.title) problems.push('Methods: a method has no tooltip');
      continue;
    }
    if (lines(cell) > 1) problems.push(`Methods: ${column} ${JSON.stringify(cell.textContent)} wraps`);
    if (cell.scrollWidth > cell.clientWidth + 0.5) {
      problems.push(`Methods: ${column} ${JSON.stringify(cell.textContent)} is cut`);
    }
  }
  if (want.w >= 1280) {
    for (const col of ['calls', 'errors', 'p50', 'p90', 'p99', 'latency']) {
      const th = table.querySelector(`th[data-col=${col}]`);
      if (!th || !shown(th) || box(th).width === 0) problems.push(`Methods: no ${col} column at ${want.w} px`);
    }
    const chart = table.querySelector('svg.hist');
    if (!chart || box(chart).width === 0) problems.push('Methods: no latency chart');
  }
  metrics.methodsColumns = Array.from(table.querySelectorAll('th'))
    .filter(shown).map((th) => th.dataset.col);
}
return { problems, metrics };
