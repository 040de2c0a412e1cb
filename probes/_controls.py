"""Read a login page's fields and buttons the way a person sees them, and get back to each one.

One script in the page lists the visible controls — `<input>` fields, `<button>`, `<input
type=submit|button|image>`, `[role=button]`, links (Bootstrap's `<a class="btn">` among them) —
through open shadow roots (authentik's web components), with the name a person reads: the
text including icon glyphs that CSS draws (`::before`), `aria-label`, `aria-labelledby`, an
input's `value`, `title`. `_names.py` normalises and matches those names; each control is marked
so a Locator finds it again. The same script answers a flow's other questions about the page in
the same call (`look`): which of its named CSS selectors have a visible match (the first one
marked for `hit`), the first visible error's text, the title and headings. Also: whether the page
has settled (loaded, and its DOM quiet), so
a page nobody can read is reported in seconds, not after the element timeout.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from loginprobe.flows import after_flow, load_states

from ._names import Control, accessible_name, normalise

MARK = "data-lp-control"
HIT = "data-lp-hit"
# On an error the page showed before a press (`mark_stale`): its text then. The same element with
# the same text after the press is that old error, not the page's answer.
STALE = "data-lp-stale"

# Playwright's `:visible`: laid out with a size, not hidden by CSS (display: contents looks at the
# children). Both scripts below use it.
_SHOWN_FN = """
  const shown = (el) => {
    const style = getComputedStyle(el);
    if (style.display === 'contents') {
      for (const c of el.childNodes) {
        if (c.nodeType === Node.ELEMENT_NODE && shown(c)) return true;
        if (c.nodeType === Node.TEXT_NODE) {
          const range = document.createRange();
          range.selectNodeContents(c);
          const r = range.getBoundingClientRect();
          if (r.width > 0 && r.height > 0) return true;
        }
      }
      return false;
    }
    if (el.checkVisibility && !el.checkVisibility()) return false;
    if (style.visibility !== 'visible') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
"""

# Reads the page once: its controls (marked with `mark`), and for each named CSS selector in `css`
# (plain CSS, no Playwright pseudo-classes) how many elements match and are visible as
# Playwright's `:visible` has it (the first one marked with `hit`, its form, name and id), the
# text of the first visible match of `css.error`, and the page's title and headings.
_READ = """
({mark, hit, css}) => {
  const out = [];
  const seen = new Set();
  const names = Object.keys(css);
  const hits = {};
  for (const n of names) hits[n] = {count: 0, form: -1, name: '', id: ''};
  let errorText = '';
  const heads = [document.title];
  SHOWN
  const formOf = (el) => el.form ? Array.prototype.indexOf.call(document.forms, el.form) : -1;
  const note = (el) => {
    let first = [];
    for (const n of names) {
      if (!el.matches(css[n])) continue;
      if (!shown(el)) return;  // the same answer for every name
      const h = hits[n];
      if (h.count++ === 0) {
        first.push(n);
        h.form = formOf(el);
        h.name = el.getAttribute('name') || '';
        h.id = el.id || '';
        if (n === 'error') errorText = el.innerText || '';
      }
    }
    if (first.length) el.setAttribute(hit, first.join(' '));
  };
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
      if (names.length) note(el);
      if (el.matches('h1, h2, h3, h4, legend')) heads.push(el.innerText || '');
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
        // As Playwright's "enabled" has it: a <fieldset disabled> around it counts, and so does
        // an aria-disabled ancestor.
        disabled: el.matches(':disabled') || !!el.closest('[aria-disabled=true]'),
        form: formOf(el),
      });
    }
  };
  const unmark = (root, attr) => {
    for (const old of root.querySelectorAll('[' + attr + ']')) old.removeAttribute(attr);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) unmark(el.shadowRoot, attr);
  };
  unmark(document, mark);
  unmark(document, hit);
  walk(document);
  return {controls: out, hits, error: errorText, headings: heads};
}
""".replace("  SHOWN\n", _SHOWN_FN)

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


@dataclass(frozen=True)
class Hit:
    """The visible elements one named selector matched: how many, and the first one's form
    (its index in document.forms, -1: none), name and id."""

    count: int = 0
    form: int = -1
    name: str = ""
    id: str = ""


@dataclass(frozen=True)
class Look:
    """One read of a page (`look`). Empty while the page is between documents."""

    controls: list[Control] = field(default_factory=list)
    hits: Mapping[str, Hit] = field(default_factory=dict)
    error: str = ""  # the text of the first visible element `css["error"]` matched
    headings: str = ""  # the title, then every h1-h4 and legend, joined by " | "

    def count(self, name: str) -> int:
        return self.hits.get(name, Hit()).count

    def shows(self, *names: str) -> bool:
        return any(self.count(n) for n in names)


async def look(page: Page, css: Mapping[str, str] | None = None) -> Look:
    """The page in one call into it: its visible fields and buttons (each marked for `locate`),
    and for each named plain-CSS selector of `css` its visible matches (the first marked for
    `hit`). One script instead of a Playwright call per question: each call is a round trip to
    the renderer, and Playwright's own `:visible` selectors are matched by its script element
    by element."""
    try:
        raw = await page.evaluate(_READ, {"mark": MARK, "hit": HIT, "css": dict(css or {})})
    except PlaywrightError:
        return Look()
    if not isinstance(raw, dict):
        return Look()
    controls = [
        _control(i, r) for i, r in enumerate(raw.get("controls") or []) if isinstance(r, dict)
    ]
    hits = {
        str(name): Hit(
            count=int(h.get("count", 0)),
            form=int(h.get("form", -1)),
            name=str(h.get("name", "")),
            id=str(h.get("id", "")),
        )
        for name, h in (raw.get("hits") or {}).items()
        if isinstance(h, dict)
    }
    heads = [str(h) for h in raw.get("headings") or []]
    return Look(controls, hits, str(raw.get("error") or ""), " | ".join(heads))


async def read_controls(page: Page) -> list[Control]:
    """The page's visible fields and buttons, each marked for `locate`. Empty while the page
    is between documents."""
    return (await look(page)).controls


def locate(page: Page, control: Control) -> Locator:
    # CSS selectors pierce open shadow roots, so this finds authentik's buttons too.
    return page.locator(f"[{MARK}='{control.index}']")


def hit(page: Page, name: str, css: str) -> Locator:
    """The first visible element the last `look` found for the selector named `name` (`css`,
    plain, a comma-separated list); if the page has replaced that element since (a script
    re-rendering the form), the first visible match of `css` now."""
    visible = ", ".join(f"{part.strip()}:visible" for part in css.split(","))
    return page.locator(f"[{HIT}~='{name}']").or_(page.locator(visible)).first


# The text of the first element a plain-CSS selector matches that is visible (as `look` has it),
# in the page and its open shadow roots; null if none: the error a page that asks again shows.
# An error `mark_stale` marked is passed over while it still says what it said then. Marks nothing
# (the flow may still act on what the last `look` marked).
_FIRST_FN = """
  const first = (root) => {
    for (const el of root.querySelectorAll(css)) {
      if (!shown(el)) continue;
      const text = el.innerText || '';
      if (el.getAttribute('STALE_ATTR') !== text) return text;
    }
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const found = first(el.shadowRoot);
        if (found !== null) return found;
      }
    }
    return null;
  };
""".replace("STALE_ATTR", STALE)
_FIRST_SHOWN = """
(css) => {
  SHOWN
  FIRST
  return first(document);
}
""".replace("  SHOWN\n", _SHOWN_FN).replace("  FIRST\n", _FIRST_FN)

# Whether the page has answered a press without leaving: the pressed element (`els`: the
# locator's matches) no longer shows, or something matching `css` shows (as `_FIRST_SHOWN`).
_ANSWERED = """
(els, css) => {
  SHOWN
  if (!els.some(shown)) return true;
  FIRST
  return first(document) !== null;
}
""".replace("  SHOWN\n", _SHOWN_FN).replace("  FIRST\n", _FIRST_FN)


async def shown_text(page: Page, css: str) -> str | None:
    """The text of the first visible match of the plain-CSS selector now, passing over one
    `mark_stale` marked that still says the same; None if nothing matches visibly (or the page
    is between documents)."""
    try:
        found = await page.evaluate(_FIRST_SHOWN, css)
    except PlaywrightError:
        return None
    return None if found is None else str(found)


# Marks each visible match of a plain-CSS selector (in the page and its open shadow roots) with
# its text: `first` passes over it while it says the same.
_MARK_STALE = """
(css) => {
  SHOWN
  const mark = (root) => {
    for (const el of root.querySelectorAll(css)) {
      if (shown(el)) el.setAttribute('STALE_ATTR', el.innerText || '');
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) mark(el.shadowRoot);
  };
  mark(document);
}
""".replace("  SHOWN\n", _SHOWN_FN).replace("STALE_ATTR", STALE)


async def mark_stale(page: Page, css: str) -> None:
    """Before pressing again on a page that shows an error (a second one-time code on a page that
    answers in place): that error, while it still says the same, is not the page's answer to the
    press (`answered`, `shown_text`). An IdP that says the very same thing again in the same
    element is heard only when the flow next reads the page (`look` reads every error).

    The provider flows' `_pages.press_again` marks an error as seen whatever it says later: their
    errors are Playwright locators of a known page, where a changed text in the same element is
    not a case to hear; here the generic flow asks the page in one script, which can compare."""
    with contextlib.suppress(PlaywrightError):
        await page.evaluate(_MARK_STALE, css)


async def answered(pressed: Locator, css: str) -> bool:
    """Has the page answered the press of `pressed` without leaving: is it no longer shown, or
    does a match of the plain-CSS selector `css` (an error) show in the page, other than one
    `mark_stale` marked that still says the same? One call into the
    page for both questions (asked every quarter second until the IdP answers). A pressed
    element that cannot be asked about (a hub's own selector into a frame, say) leaves the error
    asked alone. False between two documents."""
    try:
        return bool(await pressed.evaluate_all(_ANSWERED, css))
    except PlaywrightError:
        return await shown_text(pressed.page, css) is not None


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
    page busy until they have; a page that stays quiet shows all it is going to. One per page
    (`activity_of`), until the flow is over (`loginprobe.flows.after_flow`).

    The page's requests are watched only once they can matter: a listener makes Playwright's
    driver send every script, style sheet and image of every page to Python (about a quarter of
    a healthy login's messages, `benchmarks/probe_cost.py --messages`), and a page that shows
    what the flow knows is never asked whether it has settled. The watch starts at the first
    question. A request started before it is one nobody saw start, so:
    - the page is never called settled before the driver's own "networkidle" has been seen for
      its document since the watch began (no request of it in flight for half a second): a
      single-page IdP fetching its form as it loads is waited for. Once fired, "networkidle"
      says nothing more (the driver keeps it while later requests run), so it only ever holds
      a page back;
    - after a press with no watch on (`before_press`), the page is not called settled before its
      next document: the press may have started a fetch of the next step (Google's, Azure AD's),
      at once or later by script. A page shown in place after a press is read until something
      known shows, or until the element timeout;
    - a request a page starts by itself after going idle and before the flow's first question
      (a timer of its own) is the one this cannot see.
    Watching from the flow's start instead would watch every healthy login."""

    def __init__(self, page: Page) -> None:
        # Weakly: _ACTIVITY's value must not keep its own key (the page, and its whole journey)
        # alive after the probe has closed it.
        self._page = weakref.ref(page)
        # Requests by id, not the objects: a request never finished (cut by the context's close)
        # would otherwise hold its frame and page, and _ACTIVITY the page, for good.
        self.pending: set[int] = set()
        self.last = time.monotonic()
        self.watching = False
        self.blind = False  # a press may have started a request nobody saw: not settled
        self.idle_seen = False  # "networkidle" seen for this document since the watch began
        page.on("domcontentloaded", self._new_document)
        if load_states(page) is None:
            self.watch()  # no "networkidle" to speak for the requests before a watch

    def watch(self) -> None:
        """Watch the page's requests from now on (until `stop`)."""
        page = self._page()
        if self.watching or page is None:
            return
        self.watching = True
        self.last = time.monotonic()
        # The request's end, not its response: a body may take long to arrive, and Playwright
        # reports some requests finished with no response event at all.
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def before_press(self) -> None:
        """The flow is about to press something on the page. With no watch on, a request the
        press starts (the next step, fetched in the background) is seen by nobody: the page is
        not called settled before its next document. Before the click, not after: Playwright's
        click returns only once a navigation it started has committed, and a small page may have
        fired its DOMContentLoaded by then."""
        if not self.watching:
            self.blind = True

    def _new_document(self, _: object) -> None:
        """The page's DOMContentLoaded: a new document's (a navigation within the document, by
        pushState, is no new one, and its requests go on). A watch on before it saw every
        request of the new document."""
        self.blind = False
        self.idle_seen = self.watching

    def stop(self) -> None:
        """Stop watching: the flow is over (loginprobe.flows.after_flow)."""
        page = self._page()
        if page is not None:
            if self.watching:
                page.remove_listener("request", self._started)
                page.remove_listener("requestfinished", self._ended)
                page.remove_listener("requestfailed", self._ended)
                self.watching = False
            page.remove_listener("domcontentloaded", self._new_document)
            self.blind = False
            _ACTIVITY.pop(page, None)

    def _started(self, request: object) -> None:
        self.pending.add(id(request))
        self.last = time.monotonic()

    def _ended(self, request: object) -> None:
        self.pending.discard(id(request))
        self.last = time.monotonic()

    async def settled(self, quiet_s: float) -> bool:
        """Loaded, no request in flight and the DOM unchanged for `quiet_s`. The first question
        starts the watch, and both quiets are counted from then."""
        page = self._page()
        if page is None or self.blind:
            return False
        if not self.watching:
            self.watch()
            self._saw_idle(page)
            await settled(page, quiet_s * 1000)  # the page's DOM watched from now too
            return False
        # Read at every question: the driver may drop "networkidle" again for good (a frame's
        # lifecycle event after a request that ran while it stood), and once seen since the
        # watch began, the requests after it are the watch's to see.
        if not self._saw_idle(page) or self.pending or time.monotonic() - self.last < quiet_s:
            return False
        return await settled(page, quiet_s * 1000)

    def _saw_idle(self, page: Page) -> bool:
        """Has the driver's "networkidle" been seen for this document since the watch began?
        Until then a request it started before the watch may be in flight."""
        if not self.idle_seen:
            states = load_states(page)
            self.idle_seen = states is None or "networkidle" in states
        return self.idle_seen


_ACTIVITY: weakref.WeakKeyDictionary[Page, Activity] = weakref.WeakKeyDictionary()


def activity_of(page: Page) -> Activity:
    if page not in _ACTIVITY:
        _ACTIVITY[page] = activity = Activity(page)
        after_flow(page, activity.stop)
    return _ACTIVITY[page]
