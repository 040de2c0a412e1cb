"""statuspage: the status document as one self-contained, escaped HTML page (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from loginprobe.model import Evidence
from loginprobe.monitor.tracks.track import Track
from loginprobe.web.page import evidence_links, render
from loginprobe.web.status import hub_status, status_document

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


class Page(HTMLParser):
    """What a browser would see: tags with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(k in a and (v == "" or a[k] == v) for k, v in attrs.items())
        ]

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def probe_row(
    code: str, started: str, summary: str = "", evidence: object = None
) -> dict[str, Any]:
    return {
        "code": code,
        "severity": "info" if code == "ok" else "critical",
        "summary": summary or f"h: {code}",
        "step": None if code == "ok" else "oauth_callback",
        "started_at": started,
        "duration_ms": 1834,
        "steps": [
            {"name": "hub_start", "status": "ok", "http_status": 200, "ms": 244},
            {
                "name": "oauth_callback",
                "status": "ok" if code == "ok" else "failed",
                "http_status": 500,
                "ms": 88,
            },
        ],
        "evidence": evidence,
    }


def doc(*hubs: dict[str, Any], tracks: dict[str, Track] | None = None) -> dict[str, Any]:
    return status_document(list(hubs), now=NOW, tracks=tracks or {}, location="probe-1")


def failing_hub(summary: str = "", evidence: object = None) -> dict[str, Any]:
    bad = probe_row("client_secret_expired", "2026-11-26T11:59:30+00:00", summary, evidence)
    return hub_status(
        "uoft",
        url="https://hub.uoft.example",
        recent=[bad, probe_row("ok", "2026-11-26T11:58:30+00:00")],
        since="2026-11-26T11:59:30+00:00",
        tracks={
            "loginprobe/uoft/login": Track(
                1, 0, "client_secret_expired", "2026-11-26T11:59:31+00:00"
            )
        },
        now=NOW,
        next_probe_at=NOW + timedelta(seconds=15),
        last_failure=bad,
        secret_expires=date(2026, 11, 20),
        certificates={"hub.uoft.example": NOW + timedelta(days=5)},
    )


def test_page_is_self_contained_phone_ready_and_refreshes_itself() -> None:
    html = render(doc(failing_hub()), refresh_s=30)
    page = Page(html)
    assert page.all("meta", name="viewport")
    assert page.all("meta", **{"http-equiv": "refresh", "content": "30"})
    assert not page.all("script") and not page.all("link")  # no JS, no external stylesheet
    assert all(not (a.get("src") or "").startswith(("http:", "https:", "//")) for _, a in page.tags)
    assert html.startswith("<!doctype html>")


def test_each_hub_shows_verdict_since_incident_expiry_and_step_timings() -> None:
    page = Page(render(doc(failing_hub())))
    [section] = page.all("section", **{"data-hub": "uoft"})
    assert section["data-code"] == "client_secret_expired"
    assert "sev-critical" in (section["class"] or "")
    text = page.plain
    assert "h: client_secret_expired" in text
    assert "since 11:59:30 UTC (30s ago)" in text
    assert "next probe 12:00:15 UTC (in 15s)" in text
    assert (
        "open: client_secret_expired (login, since 11:59:31 UTC (29s ago), 1 failing probe)" in text
    )
    assert "client secret expires 2026-11-20: expired 6 days ago" in text
    assert "TLS certificate hub.uoft.example expires 2026-12-01: 5 days" in text
    probes = page.all("li", **{"data-started": ""})
    assert [(p["data-started"], p["data-code"]) for p in probes] == [
        ("2026-11-26T11:59:30+00:00", "client_secret_expired"),
        ("2026-11-26T11:58:30+00:00", "ok"),
    ]
    steps = [(a["data-step"], a["data-ms"]) for a in page.all("span", **{"data-step": ""})]
    assert steps == [("hub_start", "244"), ("oauth_callback", "88")] * 2
    assert "hub_start 244 ms" in text and "1834 ms" in text


def test_a_script_in_a_summary_is_shown_as_text_never_run() -> None:
    evil = 'uoft: IdP said <script>alert("x")</script> & <img src=x onerror=alert(1)>'
    html = render(doc(failing_hub(summary=evil)))
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    page = Page(html)
    assert not page.all("script")
    assert evil in page.plain  # the reader still sees exactly what the IdP said


def test_a_hub_name_or_url_cannot_break_out_of_attributes() -> None:
    h = failing_hub()
    h["hub"] = 'x" onmouseover="alert(1)'
    h["url"] = "javascript:alert(1)"
    page = Page(render(doc(h)))
    assert not any("onmouseover" in a for _, a in page.tags)
    assert not any((a.get("href") or "").startswith("javascript:") for _, a in page.tags)


def test_evidence_of_the_last_failure_links_under_artifacts() -> None:
    # What the store really holds: model.Evidence, with absolute paths on the probe's machine.
    where = "/var/lib/loginprobe/artifacts/uoft/20261126T115930Z"
    evidence = Evidence(
        dir=where,
        ref="uoft/20261126T115930Z",
        screenshot=f"{where}/screenshot.png",
        html=f"{where}/page.html",
        trace=f"{where}/trace.zip",
    ).to_json()
    page = Page(render(doc(failing_hub(evidence=evidence))))
    hrefs = {a["href"] for a in page.all("a") if (a["href"] or "").startswith("artifacts/")}
    assert hrefs == {
        "artifacts/uoft/20261126T115930Z/screenshot.png",
        "artifacts/uoft/20261126T115930Z/page.html",
        "artifacts/uoft/20261126T115930Z/trace.zip",
    }
    assert [a["src"] for a in page.all("img")] == ["artifacts/uoft/20261126T115930Z/screenshot.png"]


def test_without_evidence_the_failure_shows_no_links() -> None:
    page = Page(render(doc(failing_hub(evidence=None))))
    assert "Last failure" in page.plain
    assert not [a for a in page.all("a") if "artifacts/" in (a.get("href") or "")]
    assert not page.all("img")


def test_evidence_paths_that_leave_the_artifacts_dir_are_not_linked() -> None:
    for bad in (
        {"ref": "../etc", "screenshot": "passwd"},
        {"ref": "/etc", "screenshot": "passwd"},
        {"ref": "uoft/x", "screenshot": ".."},
        {"screenshot": "x.png"},
        "uoft/x/screenshot.png",
    ):
        assert evidence_links(bad) == [], bad
    # Only the three evidence files link, by their file name; other keys are not files.
    assert evidence_links(
        {"ref": "uoft/x", "dir": "/a/uoft/x", "screenshot": "/a/uoft/x/shot.png", "bytes": 3}
    ) == [("screenshot", "artifacts/uoft/x/shot.png")]


def test_a_hub_not_probed_yet_says_so() -> None:
    h = hub_status("new", url="https://new.example", recent=[], since=None, tracks={}, now=NOW)
    page = Page(render(doc(h)))
    assert "not probed yet" in page.plain and "No probe has finished yet." in page.plain


def test_the_title_names_the_failing_hubs() -> None:
    ok = hub_status(
        "fine",
        url="https://fine.example",
        recent=[probe_row("ok", "2026-11-26T11:59:00+00:00")],
        since=None,
        tracks={},
        now=NOW,
    )
    assert "<title>FAILING: uoft · loginprobe</title>" in render(doc(ok, failing_hub()))
    assert "<title>all ok · loginprobe</title>" in render(doc(ok))
    assert (
        "2 hubs · 1 failing · 1 healthy · 0 incidents open"
        in Page(render(doc(ok, failing_hub()))).plain
    )
    many = [failing_hub() for _ in range(7)]
    for n, h in enumerate(many):
        h["hub"] = f"h{n}"
    assert "<title>FAILING: h0, h1, h2, h3, h4 and 2 more · loginprobe</title>" in render(
        doc(*many)
    )


def fleet_hub(name: str, code: str = "ok", **kw: Any) -> dict[str, Any]:
    recent = [
        probe_row(code, f"2026-11-26T11:{59 - i:02d}:00+00:00", summary=f"{name}: {code}")
        for i in range(10)
    ]
    if code == "login_rejected":
        for r in recent:
            r["severity"] = "warning"
    return hub_status(
        name,
        url=f"https://{name}.example.org",
        recent=recent,
        since=recent[-1]["started_at"],
        tracks={},
        now=NOW,
        **kw,
    )


def fleet(n: int) -> list[dict[str, Any]]:
    """n hubs in config order: every 40th failing, every 50th warning, the 3rd not probed yet."""
    hubs = []
    for i in range(n):
        name = f"hub{i:03d}"
        if i % 40 == 17:
            hubs.append(fleet_hub(name, "hub_unreachable"))
        elif i % 50 == 5:
            hubs.append(fleet_hub(name, "login_rejected"))
        elif i == 3:
            hubs.append(hub_status(name, url="", recent=[], since=None, tracks={}, now=NOW))
        else:
            hubs.append(fleet_hub(name))
    return hubs


def order(page: Page) -> list[tuple[str | None, str | None]]:
    return [(s["data-hub"], s["data-attention"]) for s in page.all("section", **{"data-hub": ""})]


def test_failing_hubs_come_first_then_warnings_then_waiting_then_healthy() -> None:
    page = Page(render(doc(*fleet(200))))
    shown = order(page)
    assert len(shown) == 200
    assert shown[:5] == [(f"hub{i:03d}", "failing") for i in (17, 57, 97, 137, 177)]
    assert shown[5:9] == [(f"hub{i:03d}", "warning") for i in (5, 55, 105, 155)]
    assert shown[9] == ("hub003", "waiting")
    healthy = [h for h, a in shown[10:] if a == "healthy"]
    assert len(healthy) == 190 and healthy == sorted(healthy)  # config order within a group
    assert [(h["id"], h.get("class")) for h in page.all("h2")] == [
        ("failing", "group"),
        ("warning", "group"),
        ("waiting", "group"),
        ("healthy", "group"),
    ]
    assert "200 hubs · 5 failing · 4 warnings · 1 not probed yet · 190 healthy" in page.plain
    assert {a["href"] for a in page.all("a") if (a["href"] or "").startswith("#")} == {
        "#failing",
        "#warning",
        "#waiting",
        "#healthy",
    }


def test_a_fleet_page_folds_each_healthy_hub_into_one_line_and_keeps_failures_whole() -> None:
    html = render(doc(*fleet(200)))
    page = Page(html)
    full = [s for s in page.all("section", **{"data-hub": ""}) if "compact" not in s["class"]]
    assert [s["data-attention"] for s in full] == ["failing"] * 5 + ["warning"] * 4
    assert len(page.all("details")) == 191  # the healthy and the waiting, one line each
    # A failing hub keeps its whole card (all 10 probes); a folded one shows its latest probe.
    probes = [p["data-started"] for p in page.all("li", **{"data-started": ""})]
    assert len(probes) == 9 * 10 + 190
    assert len(html.encode()) < 400_000, len(html.encode())
    # A small fleet: every hub its whole card, nothing folded.
    small = Page(render(doc(*fleet(12))))
    assert not small.all("details") and len(small.all("li", **{"data-started": ""})) == 110


def test_a_search_shows_only_the_hubs_holding_every_word_and_says_how_many() -> None:
    hubs = fleet(200)
    page = Page(render(doc(*hubs), query="HUB01"))
    assert [h for h, _ in order(page)] == [
        f"hub{i:03d}" for i in (17, 10, 11, 12, 13, 14, 15, 16, 18, 19)
    ]
    assert "10 of 200 match" in page.plain
    assert "200 hubs · 5 failing" in page.plain  # the counts stay the fleet's
    # Ten hubs or fewer: whole cards again.
    assert not page.all("details")
    assert [h for h, _ in order(Page(render(doc(*hubs), query="unreachable hub1")))] == [
        "hub137",
        "hub177",
    ]
    assert [h for h, _ in order(Page(render(doc(*hubs), query="warning")))] == [
        "hub005",
        "hub055",
        "hub105",
        "hub155",
    ]
    nothing = Page(render(doc(*hubs), query='<b>"x'))
    assert not order(nothing) and "No hub matches '<b>\"x'." in nothing.plain


def test_the_search_is_a_plain_get_form_that_keeps_what_was_searched() -> None:
    page = Page(render(doc(*fleet(20)), query='a "b'))
    [form] = page.all("form")
    assert form["method"] == "get" and not page.all("script")
    [box] = page.all("input", name="q")
    assert box["value"] == 'a "b' and box["type"] == "search"
    assert page.all("a", href="./")  # back to every hub
    assert not Page(render(doc(*fleet(20)))).all("a", href="./")


def test_the_page_shows_nothing_of_availability_so_it_is_built_without_reading_it() -> None:
    """web/app.py leaves availability out of the page's document (summing 200 hubs' 30 days is
    most of a fleet page's cost): a page that starts showing it must read it again."""
    from loginprobe.history.availability import Availability

    hub = failing_hub()
    seconds = Availability(up_s=3000.0, down_s=600.0, window_s=86400.0)
    with_it = hub_status(
        "uoft",
        url=hub["url"],
        recent=hub["recent"],
        since=None,
        tracks={},
        now=NOW,
        availability={"24h": seconds, "7d": seconds, "30d": seconds},
    )
    without = hub_status(
        "uoft", url=hub["url"], recent=hub["recent"], since=None, tracks={}, now=NOW
    )
    assert with_it["availability"] != without["availability"]
    assert render(doc(with_it)) == render(doc(without))
