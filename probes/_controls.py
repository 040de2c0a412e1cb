"""Read a login page's fields and buttons the way a person sees them, and get back to each one.

One script in the page lists the visible controls — `<input>` fields, `<button>`, `<input
type=submit|button|image>`, `[role=button]`, links (Bootstrap's `<a class="btn">` among them) —
through open shadow roots (authentik's web components), with the name a person reads: the
text including icon glyphs that CSS draws (`::before`), `aria-label`, `aria-labelledby`, an
input's `value`, `title`. `_names.py` normalises and matches those names; each control is marked
so a Locator finds it again. Also: whether the page has settled (loaded, and its DOM quiet), so
a page nobody can read is reported in seconds, not after the element timeout.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from ._names import Control, accessible_name, normalise

MARK = "data-lp-control"

_READ = """
(mark) => {
  const out = [];
  const seen = new Set();
  const pseudo = (el, which) => {
    const c = getComputedStyle(el, which).content;
    if (!c || c === 'none' || c === 'normal') return '';
    const m = c.match(/^"(.*)"$/s);
    return m ? m[1] : '';
  };
  // The text a person (and Chromium's accessible name) gets: CSS-drawn glyphs included.
  const textOf = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.nodeType !== Node.ELEMENT_NODE) return '';
    const el = node;
    if (el.getAttribute('aria-hidden') === 'true' && el.children.length === 0
        && !el.textContent.trim()) {
      return pseudo(el, '::before') + pseudo(el, '::after');
    }
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') return '';
    let t = pseudo(el, '::before');
    const kids = el.shadowRoot ? el.shadowRoot.childNodes : el.childNodes;
    for (const k of kids) t += ' ' + textOf(k) + ' ';
    return t + pseudo(el, '::after');
  };
  const visible = (el) => {
    if (el.checkVisibility && !el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  };
  const rootOf = (el) => el.getRootNode();
  const labelOf = (el) => {
    const parts = [];
    if (el.labels) for (const l of el.labels) parts.push(l.innerText);
    return parts.join(' ');
  };
  const byIds = (el, attr) => {
    const ids = (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean);
    const root = rootOf(el);
    return ids.map(id => {
      const t = root.getElementById ? root.getElementById(id) : document.getElementById(id);
      return t ? textOf(t) : '';
    }).join(' ');
  };
  const BUTTONS = 'button, input[type=submit], input[type=button], input[type=image], '
    + '[role=button], a[href], a[role=link], a[class*=btn], a[class*=button]';
  const FIELDS = 'input:not([type=hidden]):not([type=submit]):not([type=button])'
    + ':not([type=image]):not([type=reset]):not([type=checkbox]):not([type=radio])'
    + ':not([type=file]):not([type=range]):not([type=color])';
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (seen.has(el)) continue;
      const isField = el.matches(FIELDS);
      const isButton = !isField && el.matches(BUTTONS);
      if (!isField && !isButton) continue;
      // A button inside a button-like element (an icon span in a link) is the same control.
      if (isButton && el.parentElement && el.parentElement.closest(BUTTONS)) continue;
      if (!visible(el)) continue;
      seen.add(el);
      el.setAttribute(mark, String(out.length));
      const tag = el.tagName.toLowerCase();
      const type = (el.getAttribute('type') || '').toLowerCase();
      let kind;
      if (isField) kind = type || 'text';
      else if (tag === 'a') kind = 'link';
      else if (tag === 'input') kind = (type === 'button') ? 'button' : 'submit';
      else if (tag === 'button') kind = (type === 'button' || type === 'reset') ? 'button' : 'submit';
      else kind = 'role';
      const isInput = tag === 'input';
      out.push({
        kind,
        aria_label: el.getAttribute('aria-label') || '',
        labelled_by: el.hasAttribute('aria-labelledby') ? byIds(el, 'aria-labelledby') : '',
        text: isField ? (labelOf(el) || el.getAttribute('placeholder') || '')
                      : (isInput ? '' : textOf(el)),
        value: (isInput && !isField) ? (el.value || (type === 'submit' ? 'Submit' : '')) : '',
        title: el.getAttribute('title') || '',
        id: el.id || '',
        name: el.getAttribute('name') || '',
        autocomplete: (el.getAttribute('autocomplete') || '').toLowerCase(),
        disabled: !!el.disabled || el.getAttribute('aria-disabled') === 'true',
        form: el.form ? Array.prototype.indexOf.call(document.forms, el.form) : -1,
      });
    }
  };
  for (const old of document.querySelectorAll('[' + mark + ']')) old.removeAttribute(mark);
  walk(document);
  return out;
}
"""

# Installed on first look: when the page's DOM last changed (ms, the page's own clock).
_QUIET = """
() => {
  if (!window.__lpMutations) {
    window.__lpMutations = {last: performance.now()};
    new MutationObserver(() => { window.__lpMutations.last = performance.now(); })
      .observe(document, {subtree: true, childList: true, attributes: true,
                          attributeFilter: ['style', 'class', 'hidden', 'disabled']});
  }
  return {ready: document.readyState, quiet: performance.now() - window.__lpMutations.last};
}
"""


def _control(index: int, raw: dict[str, Any]) -> Control:
    name = accessible_name(
        aria_label=str(raw.get("aria_label", "")),
        labelled_by=str(raw.get("labelled_by", "")),
        text=str(raw.get("text", "")),
        value=str(raw.get("value", "")),
        title=str(raw.get("title", "")),
    )
    return Control(
        index=index,
        kind=str(raw.get("kind", "")),
        name=normalise(name),
        raw=" ".join(name.split()),
        id=str(raw.get("id", "")),
        field_name=str(raw.get("name", "")),
        autocomplete=str(raw.get("autocomplete", "")),
        disabled=bool(raw.get("disabled")),
        form=int(raw.get("form", -1)),
    )


async def read_controls(page: Page) -> list[Control]:
    """The page's visible fields and buttons, each marked for `locate`. Empty while the page
    is between documents."""
    try:
        raw = await page.evaluate(_READ, MARK)
    except PlaywrightError:
        return []
    return [_control(i, r) for i, r in enumerate(raw) if isinstance(r, dict)]


def locate(page: Page, control: Control) -> Locator:
    # CSS selectors pierce open shadow roots, so this finds authentik's buttons too.
    return page.locator(f"[{MARK}='{control.index}']")


async def settled(page: Page, quiet_ms: float) -> bool:
    """The page has loaded and its DOM has not changed for `quiet_ms`: whatever scripts render
    has been rendered."""
    with contextlib.suppress(PlaywrightError):
        state = await page.evaluate(_QUIET)
        return bool(state["ready"] == "complete" and state["quiet"] >= quiet_ms)
    return False


class Activity:
    """Whether a page has settled: loaded, its DOM unchanged and no request in flight for a
    while. Scripts that render a form late (after fetching their bundle or config) keep the
    page busy until they have; a page that stays quiet shows all it is going to. One per page,
    watching from the first time a flow asks (`activity_of`), so a navigation a button started
    earlier still counts as in flight."""

    def __init__(self, page: Page) -> None:
        # Weakly: _ACTIVITY's value must not keep its own key (the page, and its whole journey)
        # alive after the probe has closed it.
        self._page = weakref.ref(page)
        # Requests by id, not the objects: a request never finished (cut by the context's close)
        # would otherwise hold its frame and page, and _ACTIVITY the page, for good.
        self.pending: set[int] = set()
        self.last = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: object) -> None:
        self.pending.add(id(request))
        self.last = time.monotonic()

    def _ended(self, request: object) -> None:
        self.pending.discard(id(request))
        self.last = time.monotonic()

    async def settled(self, quiet_s: float) -> bool:
        if self.pending or time.monotonic() - self.last < quiet_s:
            return False
        page = self._page()
        return page is not None and await settled(page, quiet_s * 1000)


_ACTIVITY: weakref.WeakKeyDictionary[Page, Activity] = weakref.WeakKeyDictionary()


def activity_of(page: Page) -> Activity:
    if page not in _ACTIVITY:
        _ACTIVITY[page] = Activity(page)
    return _ACTIVITY[page]
