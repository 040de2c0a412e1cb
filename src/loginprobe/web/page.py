"""The status page: status.py's document as one self-contained HTML page.

Pure: a dict in, a string out. No JavaScript, no external assets (the CSS is inline), readable on a
phone, reloads itself. Every value is escaped: summaries quote what hubs and IdPs said.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from loginprobe.web.status import parse_time, relative

REFRESH_S = 30

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
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.15rem;margin:0;display:flex;flex-wrap:wrap;
gap:.5rem;align-items:center}h3{font-size:.95rem;margin:.8rem 0 .3rem;color:var(--muted)}
a{color:var(--info)}
.lead{color:var(--muted);margin:.2rem 0 .8rem}
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


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


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


def _hub(h: dict[str, Any], now: datetime) -> str:
    v = h.get("verdict")
    sev = _sev(v)
    name = _e(h["hub"])
    url = str(h.get("url") or "")
    title = f'<a href="{_e(url)}">{name}</a>' if url.startswith(("https://", "http://")) else name
    facts = []
    if v is not None:
        facts.append(("since", _time(h.get("since"), now)))
    facts.append(("last probe", _time(h.get("last_probe_at"), now)))
    facts.append(
        ("next probe", "running now" if h.get("probing") else _time(h.get("next_probe_at"), now))
    )
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
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{val}</dd>" for k, val in facts)
    recent = h.get("recent") or []
    probes = (
        f'<h3>Last {len(recent)} probes</h3><ol class="probes">'
        + "".join(_probe(r, now) for r in recent)
        + "</ol>"
        if recent
        else '<p class="lead">No probe has finished yet.</p>'
    )
    return (
        f'<section class="hub sev-{sev}" id="hub-{name}" data-hub="{name}" '
        f'data-code="{_e(v["code"] if v else "")}">'
        f"<h2>{title} "
        f'<span class="badge verdict">{_e(v["code"] if v else "not probed yet")}</span></h2>'
        + (f'<p class="summary">{_e(v["summary"])}</p>' if v else "")
        + f"<dl>{dl}</dl>"
        + _failure(h.get("last_failure"), now)
        + probes
        + "</section>"
    )


def render(doc: dict[str, Any], refresh_s: int = REFRESH_S) -> str:
    """The whole page for a status document (status.status_document)."""
    now = parse_time(doc.get("generated_at"))
    assert now is not None, "a status document carries generated_at"
    hubs = doc.get("hubs") or []
    failing = doc.get("failing") or []
    open_count = len(doc.get("incidents_open") or [])
    counts = f"{_n(len(hubs), 'hub')} · {len(failing)} failing · {_n(open_count, 'incident')} open"
    title = f"{'FAILING: ' + ', '.join(failing) if failing else 'all ok'} · loginprobe"
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
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>loginprobe</h1><p class="lead">{_e(counts)}{where} · '
        f"updated {_time(doc.get('generated_at'), now, False)}, every {int(refresh_s)}s</p>"
        "</header>"
        + (
            '<div class="problems" role="alert"><b>Monitor problems</b><ul>'
            + "".join(f"<li>{_e(p)}</li>" for p in problems)
            + "</ul></div>"
            if problems
            else ""
        )
        + "<main>"
        + "".join(_hub(h, now) for h in hubs)
        + "</main><footer>"
        + (f'<p class="capacity">{_e(capacity.get("summary", ""))}</p>' if capacity else "")
        + 'The same as JSON: <a href="api/status">api/status</a> · '
        '<a href="metrics">metrics</a> · <a href="healthz">healthz</a></footer>'
        "</body></html>\n"
    )
