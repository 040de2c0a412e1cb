"""The status page: status.py's document as one self-contained HTML page.

Pure: a dict in, a string out. No JavaScript, no external assets (the CSS is inline), readable on a
phone, reloads itself. Every value is escaped: summaries quote what hubs and IdPs said.

A fleet stays readable: hubs are listed failing first, then warnings, then those not probed yet,
then the healthy ones; past FULL_CARDS hubs on the page the healthy (and waiting) ones shrink to
one line each that opens (<details>) to their facts and latest probe. A GET form (`?q=`) narrows
the page to the hubs whose name, URL, verdict or summary hold every word searched for.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from loginprobe.monitor.tracks.shared import seen_from_text
from loginprobe.web.escaping import e as _e
from loginprobe.web.status import ATTENTION, parse_time, relative

REFRESH_S = 30
FULL_CARDS = 12  # up to this many hubs on the page, every hub gets its whole card
GROUP_TITLES = {
    "failing": "Failing",
    "warning": "Warnings",
    "waiting": "Not probed yet",
    "healthy": "Healthy",
}

# Colours by severity; a healthy hub is green whatever its severity says.
_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;
--ok:#1a7f37;--warning:#9a6700;--error:#bc4c00;--critical:#cf222e;--info:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#151b23;--line:#3d444d;--ok:#3fb950;--warning:#d29922;--error:#f0883e;
--critical:#f85149;--info:#4493f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:64rem;padding:.75rem;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.3rem;margin:.2rem 0}h2.group{font-size:1.05rem;margin:1.2rem 0 .5rem;
color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
h3{font-size:1.15rem;margin:0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
h4{font-size:.95rem;margin:.8rem 0 .3rem;color:var(--muted)}
a{color:var(--info)}
.lead{color:var(--muted);margin:.2rem 0 .8rem}
form.search{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:0 0 .8rem}
form.search input{flex:1 1 12rem;min-width:0;font:inherit;padding:.3rem .5rem;
border:1px solid var(--line);border-radius:4px;background:var(--card);color:var(--fg)}
form.search button{font:inherit;padding:.3rem .8rem}
.hubs.folded{display:grid;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));
gap:.35rem;align-items:start}
.hub.compact{padding:.35rem .8rem;margin:0}
.hub.compact summary{cursor:pointer;display:flex;flex-wrap:wrap;gap:.2rem .6rem;
align-items:baseline}
.hub.compact .name{font-weight:600}
.more{font-size:.85rem}
.problems{border-left:4px solid var(--critical);background:var(--card);padding:.4rem .8rem;
margin:0 0 .8rem}
.hub{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--sev);
border-radius:6px;padding:.8rem;margin:0 0 .9rem}
.badge{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.85rem;
font-weight:600;color:#fff;background:var(--sev);white-space:nowrap}
.sev-ok{--sev:var(--ok)}.sev-info{--sev:var(--info)}.sev-warning{--sev:var(--warning)}
.sev-error{--sev:var(--error)}.sev-critical{--sev:var(--critical)}.sev-none{--sev:var(--muted)}
.summary{margin:.4rem 0;font-weight:500}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.4rem 0}
dt{color:var(--muted)}dd{margin:0}
.soon{color:var(--warning);font-weight:600}.urgent{color:var(--critical);font-weight:600}
.incident{color:var(--critical);font-weight:600}
.failure{border:1px dashed var(--line);border-radius:4px;padding:.4rem .6rem;margin:.5rem 0}
.failure img{display:block;max-width:100%;height:auto;margin-top:.4rem;border:1px solid var(--line)}
ol.probes{list-style:none;padding:0;margin:0}
.probe{border-top:1px solid var(--line);padding:.35rem 0;display:flex;flex-wrap:wrap;
gap:.25rem .6rem;align-items:baseline}
.when,.total{font-variant-numeric:tabular-nums;color:var(--muted)}
.steps{display:flex;flex-wrap:wrap;gap:.25rem;width:100%}
.step{font-size:.8rem;border:1px solid var(--line);border-radius:3px;padding:0 .35rem;
white-space:nowrap}
.step b{font-variant-numeric:tabular-nums}
.step.failed,.step.timeout{border-color:var(--critical);color:var(--critical)}
footer{color:var(--muted);font-size:.85rem;margin:1rem 0}
"""

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _sev(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "none"
    if verdict.get("code") == "ok":
        return "ok"
    sev = str(verdict.get("severity") or "critical")
    return sev if sev in ("info", "warning", "error", "critical") else "critical"


def _time(value: str | None, now: datetime, rel: bool = True) -> str:
    when = parse_time(value)
    if when is None:
        return "—"
    shown = when.strftime("%H:%M:%S" if when.date() == now.date() else "%Y-%m-%d %H:%M")
    extra = f" ({_e(relative(when, now))})" if rel else ""
    return f'<time datetime="{_e(value)}">{_e(shown)} UTC</time>{extra}'


def _days(days: int) -> str:
    cls = "urgent" if days <= 7 else ("soon" if days <= 30 else "")
    text = f"expired {-days} days ago" if days < 0 else f"{days} days"
    return f'<span class="{cls}">{_e(text)}</span>' if cls else _e(text)


def _safe_path(path: object) -> str | None:
    """A relative path under artifacts_dir, URL-quoted; None for anything else ("..", "/x")."""
    if not isinstance(path, str) or not path:
        return None
    parts = path.split("/")
    if not all(_SAFE_SEGMENT.fullmatch(p) for p in parts):
        return None
    return "/".join(quote(p) for p in parts)


def evidence_links(evidence: object) -> list[tuple[str, str]]:
    """(label, href) for each evidence file of a stored result's "evidence" (model.Evidence:
    {"ref": "<hub>/<ts>", "screenshot": "/abs/.../screenshot.png", ...}): links to
    artifacts/<ref>/<file name>, which `probe serve` serves from artifacts_dir."""
    if not isinstance(evidence, dict):
        return []
    base = _safe_path(evidence.get("ref"))
    if base is None:
        return []
    links = []
    for label in ("screenshot", "html", "trace"):
        path = evidence.get(label)
        file = _safe_path(PurePosixPath(path).name) if isinstance(path, str) else None
        if file is not None:
            links.append((label, f"artifacts/{base}/{file}"))
    return links


def _probe(row: dict[str, Any], now: datetime) -> str:
    code = row.get("code")
    steps = "".join(
        f'<span class="step {_e(s.get("status"))}" data-step="{_e(s.get("name"))}" '
        f'data-ms="{_e(s.get("ms"))}">{_e(s.get("name"))} <b>{_e(s.get("ms"))}</b> ms</span>'
        for s in row.get("steps") or []
    )
    sev = _sev(row)
    return (
        f'<li class="probe sev-{sev}" data-started="{_e(row.get("started_at"))}" '
        f'data-code="{_e(code)}"><span class="when">{_time(row.get("started_at"), now, False)}'
        f'</span> <span class="badge">{_e(code)}</span> '
        f'<span class="total">{_e(row.get("duration_ms"))} ms</span>'
        + (f'<span class="steps">{steps}</span>' if steps else "")
        + "</li>"
    )


def _failure(row: dict[str, Any] | None, now: datetime) -> str:
    if not row:
        return ""
    links = evidence_links(row.get("evidence"))
    shot = next((href for label, href in links if label == "screenshot"), None)
    files = " · ".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in links)
    return (
        f'<div class="failure"><b>Last failure</b> {_time(row.get("started_at"), now)}: '
        f'<span class="badge sev-{_sev(row)}">{_e(row.get("code"))}</span> '
        f"{_e(row.get('summary'))}"
        + (f'<div class="evidence">evidence: {files}</div>' if files else "")
        + (
            f'<a href="{_e(shot)}"><img src="{_e(shot)}" loading="lazy" '
            f'alt="screenshot of the page where the probe failed"></a>'
            if shot
            else ""
        )
        + "</div>"
    )


def _facts(h: dict[str, Any], now: datetime) -> str:
    v = h.get("verdict")
    facts = []
    if v is not None:
        facts.append(("since", _time(h.get("since"), now)))
    facts.append(("last probe", _time(h.get("last_probe_at"), now)))
    facts.append(
        ("next probe", "running now" if h.get("probing") else _time(h.get("next_probe_at"), now))
    )
    if h.get("replica"):
        facts.append(("probed by", _e(h["replica"])))
    if h.get("seen_from"):
        facts.append(("seen from", _e(seen_from_text(h["seen_from"]))))
    incidents = h.get("incidents") or []
    facts.append(
        (
            "incident",
            "<br>".join(
                f'<span class="incident">open: {_e(i["code"])}</span> ({_e(i["concern"])}, '
                f"since {_time(i.get('opened_at'), now)}"
                + (f", {_e(_n(i['failures'], 'failing probe'))}" if i.get("failures") else "")
                + ")"
                for i in incidents
            )
            or "none",
        )
    )
    se = h.get("secret_expiry")
    if se:
        via = " (from Microsoft Graph)" if se.get("source") == "graph" else ""
        facts.append(("client secret", f"expires {_e(se['date'])}: {_days(se['days_left'])}{via}"))
    for c in h.get("certificates") or []:
        facts.append(
            (
                "TLS certificate",
                f"{_e(c['host'])} expires {_e(str(c['expires_at'])[:10])}: {_days(c['days_left'])}",
            )
        )
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{val}</dd>" for k, val in facts) + "</dl>"


def _probes(recent: list[dict[str, Any]], now: datetime) -> str:
    if not recent:
        return '<p class="lead">No probe has finished yet.</p>'
    heading = "Latest probe" if len(recent) == 1 else f"Last {len(recent)} probes"
    return (
        f'<h4>{heading}</h4><ol class="probes">' + "".join(_probe(r, now) for r in recent) + "</ol>"
    )


def _hub(h: dict[str, Any], now: datetime, compact: bool = False) -> str:
    """A hub's card; `compact`: one line that opens to its facts and latest probe."""
    v = h.get("verdict")
    sev = _sev(v)
    name = _e(h["hub"])
    url = str(h.get("url") or "")
    link = f'<a href="{_e(url)}">{name}</a>' if url.startswith(("https://", "http://")) else name
    code = _e(v["code"] if v else "")
    badge = f'<span class="badge verdict">{_e(v["code"] if v else "not probed yet")}</span>'
    more = f'<p class="more"><a href="hub/{quote(str(h["hub"]), safe="")}">{name}: history</a></p>'
    opening = (
        f'<section class="hub sev-{sev}{" compact" if compact else ""}" id="hub-{name}" '
        f'data-hub="{name}" data-code="{code}" data-attention="{_e(h.get("attention"))}">'
    )
    summary = f'<p class="summary">{_e(v["summary"])}</p>' if v else ""
    recent = h.get("recent") or []
    if compact:
        last = f'<span class="when">{_time(h.get("last_probe_at"), now)}</span>' if v else ""
        return (
            f'{opening}<details><summary><span class="name">{name}</span> {badge} {last}'
            f"</summary>{link}{summary}{_facts(h, now)}{_probes(recent[:1], now)}{more}"
            "</details></section>"
        )
    return (
        f"{opening}<h3>{link} {badge}</h3>"
        + summary
        + _facts(h, now)
        + _failure(h.get("last_failure"), now)
        + _probes(recent, now)
        + more
        + "</section>"
    )


def matches(h: dict[str, Any], query: str) -> bool:
    """Whether a hub holds every word of a search (case-insensitive) in its name, URL, verdict
    code or summary, or in where it stands (failing, warning, waiting, healthy)."""
    v = h.get("verdict") or {}
    text = " ".join(
        str(x or "")
        for x in (h.get("hub"), h.get("url"), v.get("code"), v.get("summary"), h.get("attention"))
    ).casefold()
    return all(word in text for word in query.casefold().split())


def _counts(hubs: list[dict[str, Any]], open_count: int) -> str:
    """The fleet in one line: how many hubs stand where, each a link to its group."""
    by = {a: sum(1 for h in hubs if h.get("attention") == a) for a in ATTENTION}
    nouns = {"failing": "failing", "warning": "warning", "waiting": "not probed yet"}
    parts = [_e(_n(len(hubs), "hub"))]
    for a in ATTENTION:
        if by[a] or a == "failing":
            noun = _n(by[a], "warning") if a == "warning" else f"{by[a]} {nouns.get(a, a)}"
            parts.append(f'<a href="#{a}">{_e(noun)}</a>' if by[a] else _e(noun))
    parts.append(_e(f"{_n(open_count, 'incident')} open"))
    return " · ".join(parts)


def _search(query: str, shown: int, total: int) -> str:
    form = (
        '<form class="search" method="get" action="" role="search">'
        '<label for="q">Find hubs</label>'
        f'<input type="search" id="q" name="q" value="{_e(query)}" '
        'placeholder="name, URL, verdict or failing/warning/healthy" autocomplete="off">'
        '<button type="submit">Find</button>'
    )
    if query.strip():
        form += (
            f'<span class="found">{_e(f"{shown} of {total}")} match</span>'
            ' <a href="./">show all</a>'
        )
    return form + "</form>"


def render(doc: dict[str, Any], refresh_s: int = REFRESH_S, query: str = "") -> str:
    """The whole page for a status document (status.status_document); `query`: show only the
    hubs that match it (`matches`)."""
    now = parse_time(doc.get("generated_at"))
    assert now is not None, "a status document carries generated_at"
    hubs = doc.get("hubs") or []
    failing = doc.get("failing") or []
    open_count = len(doc.get("incidents_open") or [])
    named = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
    title = f"{'FAILING: ' + named if failing else 'all ok'} · loginprobe"
    problems = list((doc.get("monitor") or {}).get("problems") or [])
    prober = doc.get("prober_incident")
    if prober:
        problems.insert(
            0,
            f"the prober itself is failing ({prober['code']}, since {prober['opened_at']}): "
            "hub verdicts may be stale",
        )
    capacity = (doc.get("monitor") or {}).get("capacity") or {}
    if capacity and not capacity.get("enough", True):
        problems.append(str(capacity.get("summary", "")))
    where = f" · probing from {_e(doc['location'])}" if doc.get("location") else ""
    shown = [h for h in hubs if matches(h, query)]
    compact = len(shown) > FULL_CARDS
    groups = []
    for a in ATTENTION:
        members = [h for h in shown if h.get("attention", "healthy") == a]
        if not members:
            continue
        small = compact and a in ("healthy", "waiting")
        groups.append(
            f'<h2 class="group" id="{a}">{_e(GROUP_TITLES[a])} ({len(members)})</h2>'
            f'<div class="hubs{" folded" if small else ""}">'
            + "".join(_hub(h, now, small) for h in members)
            + "</div>"
        )
    if not shown:
        groups.append(f'<p class="lead">No hub matches {_e(repr(query.strip()))}.</p>')
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>loginprobe</h1><p class="lead">'
        f'<span class="counts">{_counts(hubs, open_count)}</span>{where} · '
        f"updated {_time(doc.get('generated_at'), now, False)}, every {int(refresh_s)}s</p>"
        + _search(query, len(shown), len(hubs))
        + "</header>"
        + (
            '<div class="problems" role="alert"><b>Monitor problems</b><ul>'
            + "".join(f"<li>{_e(p)}</li>" for p in problems)
            + "</ul></div>"
            if problems
            else ""
        )
        + "<main>"
        + "".join(groups)
        + "</main><footer>"
        + (f'<p class="capacity">{_e(capacity.get("summary", ""))}</p>' if capacity else "")
        + 'The same as JSON: <a href="api/status">api/status</a> · '
        '<a href="metrics">metrics</a> · <a href="healthz">healthz</a></footer>'
        "</body></html>\n"
    )
