"""Names the way people read them: the pure half of finding a login page's fields and buttons.

Browsers put what a button shows into its accessible name, icons included: Font Awesome, Fork
Awesome and PatternFly draw their glyphs as private-use characters (U+E000-U+F8FF) in CSS `::before`,
and Chromium counts that text; pages add emoji and arrows ("Sign in →"). A person reads "Accept";
a pattern anchored at the start of the name sees "\\uf058 Accept". So names are normalised first
(symbols and private-use characters dropped, whitespace collapsed, case folded) and matched by
whole words. No I/O: `_controls.py` reads the page, this decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Unicode categories nobody reads as part of a button's words: private use (icon fonts), other
# and math symbols (emoji, arrows, check marks), modifier symbols, control characters,
# unassigned code points and surrogates: each stands apart from the words around it.
_DROPPED = frozenset({"Co", "So", "Sm", "Sk", "Cc", "Cn", "Cs"})
# Format characters (soft hyphens, zero-width joiners) sit inside a word: gone without a trace.
_INVISIBLE = "Cf"
_SPACE = re.compile(r"\s+")
# Punctuation that decorates rather than says anything: "Continue »", "Log in…", "- Next -"
# (with the single guillemets and dashes, written as escapes).
_EDGE_PUNCTUATION = (
    " \t.,:;!?\u2026\u00bb\u00ab\u203a\u2039\u00b7\u2022*-\u2013\u2014|/\\()[]{}<>\"'"
)


def normalise(name: str | None) -> str:
    """What a person reads in a button or label: no icons or symbols, one space between words,
    case-folded. `normalise("\\uf00c  Accept ")` is "accept"."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name)
    kept = "".join(
        " " if cat in _DROPPED else "" if cat == _INVISIBLE else ch
        for ch, cat in ((ch, unicodedata.category(ch)) for ch in text)
    )
    return _SPACE.sub(" ", kept).strip(_EDGE_PUNCTUATION).casefold()


# What a button says when it moves a login on, by what it is for. A phrase matches a name that
# starts with it as whole words: "continue" matches "continue to sign in", not "continued".
SUBMIT = (
    "sign in",
    "signin",
    "sign on",
    "log in",
    "login",
    "log on",
    "logon",
    "connect",
    "continue",
    "next",
    "submit",
    "verify",
    "proceed",
)
CONSENT = (
    "allow",
    "authorize",
    "authorise",
    "accept",
    "approve",
    "grant",
    "consent",
    "agree",
    "i agree",
    "i accept",
    "continue",
    "proceed",
    "yes",
)
DECLINE = ("no", "not now", "skip", "remind me later", "later")


@dataclass(frozen=True)
class Control:
    """One button-like element or input field as the flow saw it on the page."""

    index: int  # its position among the controls read from the page (the locator's key)
    kind: str  # "button", "submit", "link", "role" / "text", "password", "email", ...
    name: str  # normalised accessible name
    raw: str = ""  # the name before normalising (glyphs and all), for explanations
    id: str = ""
    field_name: str = ""  # the `name` attribute of a field or button
    autocomplete: str = ""
    disabled: bool = False
    form: int = -1  # which of the document's forms it belongs to; -1 for none

    @property
    def is_field(self) -> bool:
        return self.kind not in BUTTON_KINDS

    def describe(self) -> str:
        """One line for `probe run --explain`: what it is and what it is called."""
        bits = [self.kind]
        if self.id:
            bits.append(f"#{self.id}")
        if self.field_name:
            bits.append(f"name={self.field_name}")
        if self.autocomplete:
            bits.append(f"autocomplete={self.autocomplete}")
        shown = repr(self.name) if self.name else "(no name)"
        # Only when the page shows more than case and spacing: a glyph, an emoji, an arrow.
        if self.raw and " ".join(self.raw.split()).casefold() != self.name:
            shown += f" (shown as {self.raw.strip()[:60]!r})"
        return f"{' '.join(bits)} {shown}" + (" [disabled]" if self.disabled else "")


BUTTON_KINDS = frozenset({"button", "submit", "link", "role"})
_USERNAME_HINT = re.compile(r"user|login|email", re.I)


def field_role(control: Control) -> str:
    """What the flow takes a field for, by the same signs its selectors use (type, autocomplete,
    name, id), in words for an explanation."""
    if control.kind == "password":
        return "password"
    if control.autocomplete == "one-time-code" or "otp" in control.field_name.casefold():
        return "one-time code"
    if (
        control.autocomplete == "username"
        or control.kind == "email"
        or _USERNAME_HINT.search(control.field_name)
        or _USERNAME_HINT.search(control.id)
    ):
        return "username"
    return "unknown: no username in its type, autocomplete, name or id"


def accessible_name(
    *, aria_label: str = "", labelled_by: str = "", text: str = "", value: str = "", title: str = ""
) -> str:
    """The name a button is read by, in the order browsers compute it (aria-labelledby,
    aria-label, its content or an input's value, then title), skipping any that are icons only."""
    for candidate in (labelled_by, aria_label, text, value, title):
        if normalise(candidate):
            return candidate
    return ""


def says(name: str, phrases: Iterable[str]) -> str | None:
    """The first phrase a normalised name starts with, as whole words; None if none."""
    for phrase in phrases:
        if name == phrase or name.startswith(phrase + " "):
            return phrase
    return None


def pick(controls: Sequence[Control], phrases: Sequence[str]) -> Control | None:
    """The button whose name says one of the phrases. Buttons before links (a "Sign in" button,
    not the "Login help" link in the footer), a name that is exactly the phrase before one that
    starts with it ("Continue", not "Continue with Google"), earlier phrases before later ones,
    then the order on the page."""
    buttons = [c for c in controls if not c.is_field and c.kind != "link"]
    links = [c for c in controls if c.kind == "link"]
    for tier in (buttons, links):
        for exact in (True, False):
            for phrase in phrases:
                for control in tier:
                    if control.name == phrase or (
                        not exact and control.name.startswith(phrase + " ")
                    ):
                        return control
    return None


MAX_EXPLAINED = 20


def explain(controls: Sequence[Control], wanted: Mapping[str, Sequence[str]]) -> list[str]:
    """Why none of the page's controls fits what the flow looks for: one line per control, then
    what the flow wanted. For `probe run --explain` and the evidence of a flow_changed."""
    lines: list[str] = []
    fields = [c for c in controls if c.is_field]
    buttons = [c for c in controls if not c.is_field]
    lines.append(f"fields ({len(fields)}):" if fields else "fields: none")
    lines += [f"  {c.describe()} -> {field_role(c)}" for c in fields]
    lines.append(f"buttons ({len(buttons)}):" if buttons else "buttons: none")
    # Buttons first, links after them (a page's footer can hold dozens of links).
    ordered = sorted(buttons, key=lambda c: c.kind == "link")
    for c in ordered[:MAX_EXPLAINED]:
        hits = [what for what, phrases in wanted.items() if says(c.name, phrases)]
        note = f" -> {', '.join(hits)}" if hits else " -> no known word"
        lines.append(f"  {c.describe()}{note}")
    if len(ordered) > MAX_EXPLAINED:
        lines.append(f"  ... and {len(ordered) - MAX_EXPLAINED} more")
    for what, phrases in wanted.items():
        lines.append(f"looked for {what}: {', '.join(repr(p) for p in phrases)}")
    return lines
