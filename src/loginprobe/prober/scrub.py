"""Rewriting what the browser recorded so that nothing from a page reaches the evidence unless it is
known to be harmless: page.html, and every member of a Playwright trace zip.

Pure (bytes and strings in, bytes and strings out). An allow-list, not a deny-list:

- HTML (page.html, HTML resources, the trace's DOM snapshots): scripts, comments and `<textarea>`
  contents are dropped; attribute values are kept only for a short list of descriptive attributes
  (`id`, `class`, `type`, `name`, ...) and for URL attributes (through redact_url); `value` only
  for buttons, checkboxes and radios; text keeps only what is not shaped like a credential
  (redact.mask_unknown);
- trace events: typed text is masked whatever it was (a TOTP code is known to nobody but the
  browser); request bodies, cookies and Cookie / Set-Cookie / Authorization headers are dropped;
  URLs go through redact_url; every other string from a page through the text rules; the ids and
  hashes that link the trace's parts stay as they are;
- resources: HTML as above, CSS and JSON as text, scripts and request bodies left out, images and
  fonts kept;
- everywhere, every known secret in every form (secretforms.py) is masked, and last, a member that
  still holds one is left out.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from loginprobe.redact import MASK, SAFE_QUERY_KEYS, Redactor, mask_unknown, redact_url

# Attributes whose values describe a page without carrying anything of a person or a session.
KEPT_ATTRIBUTES = frozenset(
    {
        "id",
        "class",
        "type",
        "name",
        "for",
        "role",
        "lang",
        "dir",
        "method",
        "rel",
        "colspan",
        "rowspan",
        "width",
        "height",
        "disabled",
        "checked",
        "selected",
        "readonly",
        "required",
        "hidden",
        "autocomplete",
        "alt",
        "title",
        "placeholder",
        "charset",
        "media",
        "tabindex",
        "style",
        "align",
        "valign",
        "border",
        "maxlength",
        "size",
        "label",
        "target",
        "enctype",
        "novalidate",
        "multiple",
    }
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "cite", "poster", "background"})
# Inputs whose value is harmless to show (a checkbox's "on", a button's label).
SHOWN_INPUT_TYPES = frozenset({"checkbox", "radio", "submit", "button", "reset", "image"})
_IMAGE_DATA = re.compile(r"(?i)^data:image/(?:png|jpeg|gif|webp|avif|bmp|x-icon);")
# Methods of Playwright's protocol that type text into the page: their text is never kept.
TYPING_METHODS = frozenset(
    {"fill", "type", "pressSequentially", "insertText", "keyboardType", "keyboardInsertText"}
)
# Playwright's own log lines echo what was typed: `  fill("654321")` (a TOTP code nobody else knows).
_TYPED_LOG = re.compile(
    r'(\b(?:fill|type|pressSequentially|insertText|keyboardType|keyboardInsertText)\(\\?")'
    r'((?:[^"\\]|\\.)*)(\\?"\))'
)
DROP_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
URL_HEADERS = frozenset({"location", "referer", "origin", "content-location"})
# Headers whose values describe a request or a response without naming anyone or any session;
# every other header keeps its name and loses its value.
SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-allow-origin",
        "age",
        "cache-control",
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-security-policy",
        "content-type",
        "date",
        "expires",
        "host",
        "keep-alive",
        "last-modified",
        "pragma",
        "referrer-policy",
        "server",
        "strict-transport-security",
        "transfer-encoding",
        "upgrade-insecure-requests",
        "user-agent",
        "vary",
        "via",
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
    }
)
IMAGE_SUFFIXES = (".png", ".jpeg", ".jpg", ".webp", ".gif", ".ico", ".avif", ".bmp")
FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".otf", ".eot")
SCRIPT_SUFFIXES = (".js", ".mjs", ".cjs")
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".svg")
_SNAPSHOT_VALUE = "__playwright_value_"
# What the trace format uses to link its parts (calls, pages, snapshots, resources by hash):
# rewriting these would break the trace, and they come from Playwright, not from a page.
STRUCTURAL_KEYS = frozenset(
    {
        "type",
        "method",
        "class",
        "callId",
        "parentId",
        "pageId",
        "frameId",
        "snapshotName",
        "sha1",
        "_sha1",
        "_file",
        "mimeType",
        "apiName",
        "stepId",
        "guid",
        "version",
        "origin",
        "browserName",
        "platform",
        "playwrightVersion",
        "sdkLanguage",
        "contextId",
        "pageref",
        "_frameref",
        "beforeSnapshot",
        "afterSnapshot",
        "inputSnapshot",
        "channel",
        "name",
    }
)


def _url_value(value: str, known: Callable[[str], str]) -> str:
    v = value.strip()
    if _IMAGE_DATA.match(v):
        return v
    if v.lower().startswith(("javascript:", "data:", "vbscript:", "blob:")):
        return MASK
    if v.startswith("#"):
        return "#" + mask_unknown(known(v[1:]))
    return known(redact_url(v)) if v else v


@dataclass(frozen=True)
class Scrubber:
    """Knows the secret values of a probe and every form they take, and the rules for a page."""

    secrets: tuple[str, ...]
    # One-time values typed this probe (TOTP codes): masked, and looked for, only standing alone.
    tokens: tuple[str, ...] = ()
    _redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_redactor", Redactor(self.secrets, self.tokens))

    @classmethod
    def of(cls, secrets: Iterable[str], tokens: Iterable[str] = ()) -> Scrubber:
        return cls(tuple(s for s in secrets if s), tuple(t for t in tokens if t))

    # -- strings ---------------------------------------------------------------------------------
    def known(self, value: str) -> str:
        """Known secrets and typed text masked; for strings the trace format itself made."""
        return self._redactor.text(_TYPED_LOG.sub(rf"\g<1>{MASK}\g<3>", value))

    def text(self, value: str) -> str:
        """Text from a page: known secrets, and whatever is shaped like a credential, masked."""
        return mask_unknown(self.known(value))

    def url(self, value: str) -> str:
        return _url_value(value, self.known)

    def attribute(self, tag: str, name: str, value: str, kind: str) -> str:
        """An attribute's value as evidence may show it (`kind`: the element's type attribute)."""
        n = name.lower()
        if n in URL_ATTRIBUTES:
            return self.url(value)
        if n == "value" or n == _SNAPSHOT_VALUE:
            shown = (tag.lower() == "input" and kind.lower() in SHOWN_INPUT_TYPES) or (
                tag.lower() == "button" and n == "value"
            )
            return self.text(value) if shown else (MASK if value else value)
        if n in KEPT_ATTRIBUTES or n.startswith("aria-"):
            return self.text(value)
        if n.startswith("__playwright_"):
            # Playwright's own bookkeeping (scroll offsets, checked state, bounding boxes).
            if n == "__playwright_current_src__":
                return self.url(value)
            return self.text(value) if "style" in n else self.known(value)
        return MASK

    def html(self, value: str) -> str:
        """A page's HTML rewritten to the allow-list."""
        rewriter = _HtmlRewriter(self)
        rewriter.feed(value)
        rewriter.close()
        # A secret split across elements (<b>pa</b>ss) is found once the tags are out of its way.
        return self.known("".join(rewriter.out))

    def leaks(self, data: bytes) -> bool:
        return self._redactor.found(data.decode("utf-8", errors="surrogateescape"))

    # -- Playwright trace events ------------------------------------------------------------------
    def event(self, value: Any) -> Any:
        """One line of trace.trace or trace.network."""
        if not isinstance(value, dict):
            return self._walk(value, "")
        kind = value.get("type")
        if kind == "frame-snapshot" and isinstance(value.get("snapshot"), dict):
            snap = dict(value["snapshot"])
            html_tree = snap.pop("html", None)
            out = self._walk({**value, "snapshot": snap}, "")
            if html_tree is not None:
                out["snapshot"]["html"] = self._snapshot_node(html_tree, "")
            return out
        if kind == "before" and value.get("method") in TYPING_METHODS:
            params = value.get("params")
            if isinstance(params, dict):
                masked = {k: MASK if k in ("value", "text") else v for k, v in params.items()}
                return self._walk({**value, "params": masked}, "")
        return self._walk(value, "")

    def _walk(self, value: Any, key: str) -> Any:
        if isinstance(value, str):
            if key in STRUCTURAL_KEYS or key.endswith(("Id", "Ref", "ref")):
                return self.known(value)
            if key in ("url", "frameUrl", "redirectURL") or key.endswith(("Url", "URL")):
                return self.url(value)
            if key == "value" and value.lstrip()[:1] == "<" and "</" in value:
                return self.html(value)  # page.content() and the like, recorded as a result
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v, key) for v in value]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if k == "cookies":
                    out[k] = []
                elif k == "headers" and isinstance(v, list):
                    out[k] = self._headers(v)
                elif k == "postData" and isinstance(v, dict):
                    mime = self.known(str(v.get("mimeType", "")))
                    out[k] = {"mimeType": mime, "text": "", "params": []}
                elif k == "queryString" and isinstance(v, list):
                    out[k] = [self._query_pair(p) for p in v]
                else:
                    out[k] = self._walk(v, k)
            return out
        return value

    def _headers(self, headers: list[Any]) -> list[Any]:
        out = []
        for h in headers:
            if not isinstance(h, dict):
                continue
            name = str(h.get("name", ""))
            if name.lower() in DROP_HEADERS:
                continue
            value, lower = str(h.get("value", "")), name.lower()
            if lower in URL_HEADERS:
                shown = self.url(value)
            elif lower in SAFE_HEADERS or lower.startswith(("sec-fetch-", "sec-ch-ua")):
                shown = self.text(value)
            else:
                shown = MASK if value else value
            out.append({**h, "name": self.known(name), "value": shown})
        return out

    def _query_pair(self, pair: Any) -> Any:
        if not isinstance(pair, dict):
            return pair
        name, value = str(pair.get("name", "")), str(pair.get("value", ""))
        shown = self.text(value) if name.lower() in SAFE_QUERY_KEYS else MASK
        return {**pair, "name": self.known(name), "value": shown}

    def _snapshot_node(self, node: Any, parent: str) -> Any:
        """A DOM snapshot node: text, [[snapshot, node]] (a reference to an earlier snapshot), or
        [TAG, {attributes}, ...children]."""
        if isinstance(node, str):
            if parent == "SCRIPT":
                return ""
            if parent == "TEXTAREA":
                return MASK if node.strip() else node
            return self.text(node)
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            return node
        tag = node[0]
        rest = node[1:]
        attrs: dict[str, Any] = {}
        if rest and isinstance(rest[0], dict):
            raw = rest[0]
            kind = str(raw.get("type", ""))
            attrs = {
                k: self.attribute(tag, k, v, kind) if isinstance(v, str) else v
                for k, v in raw.items()
            }
            rest = rest[1:]
            return [tag, attrs, *(self._snapshot_node(c, tag.upper()) for c in rest)]
        return [tag, *(self._snapshot_node(c, tag.upper()) for c in rest)]

    def json_lines(self, data: bytes) -> bytes:
        lines = []
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                lines.append(json.dumps(self.event(json.loads(line)), ensure_ascii=False))
            except ValueError:
                lines.append(self.text(line))
        return ("\n".join(lines) + "\n").encode()


class _HtmlRewriter(HTMLParser):
    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__(convert_charrefs=True)
        self.scrubber = scrubber
        self.out: list[str] = []
        self._inside: str | None = None  # script, style or textarea

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> str:
        kind = next((v or "" for k, v in attrs if k == "type"), "")
        parts = [tag]
        for name, value in attrs:
            if value is None:
                parts.append(name)
            else:
                shown = self.scrubber.attribute(tag, name, value, kind)
                parts.append(f'{name}="{html.escape(shown, quote=True)}"')
        return f"<{' '.join(parts)}{end}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs, ""))
        if tag in ("script", "style", "textarea"):
            self._inside = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs, " /"))

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside == "script":
            return
        if self._inside == "textarea":
            self.out.append(MASK if data.strip() else data)
        elif self._inside == "style":
            self.out.append(self.scrubber.text(data).replace("</", "<\\/"))
        else:
            self.out.append(html.escape(self.scrubber.text(data), quote=False))

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.out.append(f"<!{decl}>")

    # Comments, processing instructions and CDATA sections are left out.
    def handle_comment(self, data: str) -> None:
        return

    def handle_pi(self, data: str) -> None:
        return

    def unknown_decl(self, data: str) -> None:
        return


def post_body_files(network: bytes) -> set[str]:
    """The resources that hold request bodies (a login form's POST: the password)."""
    files: set[str] = set()
    for line in network.decode("utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        post = ((event.get("snapshot") or {}).get("request") or {}).get("postData") or {}
        for key in ("_file", "_sha1"):
            if isinstance(post.get(key), str):
                files.add(post[key] if "/" in post[key] else f"resources/{post[key]}")
    return files


@dataclass(frozen=True)
class ScrubReport:
    kept: tuple[str, ...]
    dropped: tuple[str, ...]  # left out: request bodies, scripts, anything still holding a secret


def scrub_trace(raw: bytes, scrubber: Scrubber) -> tuple[bytes, ScrubReport]:
    """A Playwright trace zip, rewritten member by member; the new zip and what was left out."""
    out = io.BytesIO()
    kept: list[str] = []
    dropped: list[str] = []
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        names = src.namelist()
        bodies: set[str] = set()
        for name in names:
            if name.endswith(".network"):
                bodies |= post_body_files(src.read(name))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for name in names:
                if name in bodies or name.lower().endswith(SCRIPT_SUFFIXES):
                    dropped.append(name)
                    continue
                data = _scrub_member(name, src.read(name), scrubber)
                if scrubber.leaks(data):
                    dropped.append(name)
                    continue
                dst.writestr(name, data)
                kept.append(name)
    return out.getvalue(), ScrubReport(tuple(kept), tuple(dropped))


def _scrub_member(name: str, data: bytes, scrubber: Scrubber) -> bytes:
    lower = name.lower()
    if lower.endswith((".trace", ".network")):
        return scrubber.json_lines(data)
    if lower.endswith(IMAGE_SUFFIXES + FONT_SUFFIXES):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # binary: kept only if it holds no secret (checked by the caller)
    if lower.endswith(HTML_SUFFIXES) or text.lstrip()[:1] == "<":
        return scrubber.html(text).encode()
    return scrubber.text(text).encode()
