from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field as dc_field
from html.parser import HTMLParser

import pytest

from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.judging.breach import Breach
from streamperf.results.judging.judge import Basis, Verdict, analyse_for, judge, rules
from streamperf.results.report import html as report
from streamperf.results.report.charts import charts
from tests.support.report_logs import SECRET, synthetic_run

BREACHES = (Breach("p95(startup_s) < 0.5", "0.80 s", "< 0.5 s", "fan4 (0.80 s)"),
            Breach("max(lagged) <= 0", "2 & more", "<= 0"))
FAILED = Verdict("FAIL", BREACHES)
PASSED = Verdict("PASS")
SETTINGS = {"users": 12, "token": "***", "streams_api_token": SECRET, "api_url": "http://x"}
LIMITS = {"startup_s": 0.5, "lagged": 0}


@pytest.fixture(scope="module")
def run():
    df = synthetic_run().frame()
    a = analyse(df, lag_threshold_s=3.0)
    return a, df, charts(a, df, LIMITS)


@pytest.fixture(scope="module")
def page(run):
    a, df, made = run
    return report.render_report(a, df, "test_live[<steady>]", FAILED, SETTINGS,
                                LIMITS, charts=made)


def test_page_is_standalone_with_every_chart_inline(run, page):
    _, _, made = run
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for c in made:
        assert f'data-chart="{c.name}"' in page
        assert c.data_uri in page
    assert page.count('src="data:image/png;base64,') == len(made) == 7
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_verdict_and_breaches_are_shown_escaped(page):
    assert '<span class="sp-verdict sp-fail">FAIL</span>' in page
    assert "2 SLA checks breached" in page
    assert ("p95(startup_s) &lt; 0.5: measured 0.80 s, limit &lt; 0.5 s; worst: fan4 (0.80 s)"
            in page)
    assert "measured 2 &amp; more" in page
    assert "test_live[&lt;steady&gt;]" in page
    assert "<steady>" not in page


def test_no_secret_in_the_report(page):
    assert SECRET not in page
    assert page.count("***") >= 2  # token as redacted by the caller, and the one masked here


def test_tables(run, page):
    a, _, _ = run
    for heading in ("Summary", "Settings", "By protocol", "By host", "Worst 20 viewers", "API"):
        assert f"<h2>{heading}</h2>" in page
    # Hosts with samples get their load-generator figures.
    assert "host CPU max %" in page and ">gen2<" in page
    # The API table has the endpoint that timed out; the server's error text is escaped.
    assert "POST /api/v1/fan_influencers" in page
    assert "<x>" not in page
    # Worst first: lagged 17 s after a stall, then lagged 15 s from a slow trickle.
    worst = report.worst_viewers(a)
    assert worst["viewer"].tolist()[:2] == ["fan1", "fan2"]
    assert worst["lagged_s"].tolist()[:2] == [17, 15]
    assert len(worst) == min(20, len(a.viewers))


def test_invalid_and_pass_verdicts(run):
    a, df, made = run
    invalid = report.render_report(a, df, "t", Verdict("INVALID", BREACHES, "publisher died"),
                                   {}, None, made)
    assert '<span class="sp-verdict sp-invalid">INVALID</span>' in invalid
    assert "publisher died" in invalid
    cut = report.render_report(a, df, "t", Verdict("INTERRUPTED"), {}, None, made)
    assert '<span class="sp-verdict sp-interrupted">INTERRUPTED</span>' in cut
    passed = report.render_report(a, df, "t", PASSED, {}, None, made)
    assert '<span class="sp-verdict sp-pass">PASS</span>' in passed
    assert "No SLA breaches." in passed


def test_summary_fragment_for_pytest_html(run):
    a, df, made = run
    frag = report.summary_html(a, df, FAILED, LIMITS, title="t", charts=made)
    assert frag.startswith('<div class="sp-report">') and "<html" not in frag
    assert frag.count("data:image/png;base64,") == len(made)
    assert "startup_p95_s" in frag and "FAIL" in frag


def test_write_report_makes_the_file(tmp_path, run):
    a, df, made = run
    page = report.render_report(a, df, "t", PASSED, charts=made)
    out = report.write_report(tmp_path / "sub" / "report.html", page)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_charts_are_made_when_not_given(run):
    a, df, _ = run
    page = report.render_report(a, df, "t", PASSED, {}, {"startup_s": 1})
    assert page.count('src="data:image/png;base64,') == 7


def test_importing_the_module_loads_neither_pandas_nor_matplotlib_nor_jinja2():
    code = ("import sys, streamperf.results.report.html, streamperf.results.report.charts,"
            " streamperf.results.report.tiles;"
            "print(sorted(m for m in ('pandas', 'matplotlib', 'jinja2', 'markupsafe')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_lost_and_prepared_load_hosts_are_named_in_report_and_fragment():
    from streamperf.results.eventlog.schema import Event

    tl = synthetic_run()
    tl.rows += [Event(99.5, "gen2", "", ev.LOAD_HOST, name, value, "",
                      "python 3.11.2; streamperf 0.1.0")
                for name, value in (("clock_offset_s", -0.0123), ("rtt_s", 0.0004),
                                    ("cpus", 8), ("nofile", 65536))]
    tl.rows += [Event(115.0, "gen2", f"fan{i}", ev.VIEWER_ERROR, ev.LOST_HOST, 0.0, "",
                      "worker process exited (connection lost)") for i in (1, 3, 5)]
    df = tl.frame()
    a = analyse(df, lag_threshold_s=3.0)
    page = report.render_report(a, df, "lost", PASSED, {}, {}, charts=[])
    fragment = report.summary_html(a, df, PASSED, {}, charts=[])
    for html_text in (page, fragment):
        lost = html_text.split("<h2>Lost load generators</h2>")[1].split("</table>")[0]
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", lost)
        # host, viewers failed, seconds into the run (run_start at 99 s), why
        assert cells == ["gen2", "3", "16.0", "worker process exited (connection lost)"]
    hosts = page.split("<h2>Load hosts</h2>")[1].split("</table>")[0]
    assert re.findall(r"<td[^>]*>([^<]*)</td>", hosts) == [
        "gen2", "python 3.11.2; streamperf 0.1.0", "-12.3", "0.4", "8", "65,536"]
    plain = report.render_report(*run_without_hosts(), "plain", PASSED, {}, {}, charts=[])
    assert "Lost load generators" not in plain and "Load hosts" not in plain


def run_without_hosts():
    df = synthetic_run().frame()
    return analyse(df, lag_threshold_s=3.0), df


# --- at a glance: the verdict and its tiles first, then charts, then tables ----------

TILE_RE = re.compile(r'<div class="sp-tile[^"]*" data-tile="([^"]+)" data-state="([^"]+)">'
                     r'<div class="sp-tile-label">([^<]*)</div>'
                     r'<div class="sp-tile-figure">([^<]*)</div>')


def tiles(page: str) -> list[tuple[str, str, str, str]]:
    """(id, state, label, figure) of each tile, in order."""
    return TILE_RE.findall(page)


def judged(df, *layers):
    """(analysis, log, verdict) as the judge gives them: default SLA plus `layers`."""
    basis = Basis(rules=tuple(rules(*layers)))
    a = analyse_for(df, basis)
    return a, df, judge(a, basis)


@pytest.fixture(scope="module")
def failing():
    """The synthetic run judged by the default SLA: lagged, bitrate and API errors fail."""
    return judged(synthetic_run().frame())


def test_the_page_opens_with_the_verdict_and_tiles_then_charts_then_tables(failing):
    a, df, verdict = failing
    page = report.render_report(a, df, "t", verdict, SETTINGS, LIMITS, charts=[])
    body = page.split("<body>")[1]
    order = ['<main class="sp-report"><h1>t</h1><section class="sp-glance"><p>'
             '<span class="sp-verdict sp-fail">FAIL</span>', '<div class="sp-tiles">',
             '<ul class="sp-breaches">', "<h2>Charts</h2>", "<h2>Summary</h2>",
             "<h2>Settings</h2>", "<h2>By protocol</h2>", "<h2>By host</h2>",
             "<h2>Worst 20 viewers</h2>", "<h2>API</h2>"]
    at = [body.index(marker) for marker in order]
    assert at == sorted(at) and at[0] == 0


def test_tiles_show_the_figures_and_the_judges_checks_on_them(failing):
    a, df, verdict = failing
    assert verdict.word == "FAIL"
    page = report.render_report(a, df, "t", verdict, {}, LIMITS, charts=[])
    assert tiles(page) == [
        ("media", "held", "viewers with media", "12 of 12"),
        ("startup", "held", "startup p95", "0.800 s"),
        ("lagged", "breached", "lagged", "2"),
        ("bitrate", "breached", "bitrate ratio", "0.80"),
        ("stalls", "none", "stalls", "5"),  # no SLA check on stalls
        ("errors", "breached", "errors", "2"),  # 0 viewer errors + 2 failed API calls
    ]
    errors = page.split('data-tile="errors"')[1].split("data-tile=")[0]
    # Each check with its limit and whether it held; the failed one with what was measured.
    assert ('<li class="sp-held"><code>count(errors) ==\u00a00</code><span>✓ held: 0</span>'
            in errors)
    assert ('<li class="sp-breached"><code>rate(api_errors) &lt;=\u00a01%</code>'
            "<span>✗ breached: 14.29% (2 of 14)</span>" in errors)
    assert "2 of 14 API calls failed" in errors
    assert page.count('class="sp-tile sp-tile-breached"') == 3


def test_a_passing_run_has_no_breached_tile_and_a_check_without_data_is_not_applicable():
    df = synthetic_run(api_error=False, healthy=True).frame()
    # No API calls at all: the default API check has no data.
    a, df, verdict = judged(df[df["event"] != ev.API])
    assert verdict.word == "PASS" and verdict.not_applicable
    page = report.render_report(a, df, "t", verdict, {}, LIMITS, charts=[])
    states = dict((t[0], t[1]) for t in tiles(page))
    assert states == {"media": "held", "startup": "held", "lagged": "held",
                      "bitrate": "held", "stalls": "none", "errors": "held"}
    assert 'data-state="breached"' not in page
    assert ('<li class="sp-na"><code>rate(api_errors) &lt;=\u00a01%</code>'
            "<span>not applicable: no data: " in page)


def test_a_check_on_another_metric_and_a_baseline_regression_get_tiles_of_their_own(failing):
    a, df, _ = failing
    _, _, verdict = judged(df, ("--sla", ["p95(latency_s) < 2", "count(stalls) <= 9"]))
    regression = Breach("startup_p95 = p95(startup_s) vs baseline '<b>'", "0.8 s (+60%)",
                        "<= 0.6 s (20% of baseline)")
    verdict = Verdict(verdict.word, (*verdict.breaches, regression), checks=verdict.checks)
    page = report.render_report(a, df, "t", verdict, {}, LIMITS, charts=[])
    found = tiles(page)
    assert [t[0] for t in found[:6]] == ["media", "startup", "lagged", "bitrate", "stalls",
                                         "errors"]
    # count(stalls) lands on the stalls tile; latency has no tile of the six.
    assert found[4][:2] == ("stalls", "held")
    assert found[6] == ("check", "breached", "p95(latency_s)", "4.6 s")
    assert found[7] == ("breach", "breached", "startup_p95 = p95(startup_s) vs baseline "
                        "&#x27;&lt;b&gt;&#x27;", "0.8 s (+60%)")
    assert "<b>" not in page


def test_a_verdict_read_back_without_checks_marks_the_tiles_of_its_breaches(run):
    a, df, _ = run
    page = report.render_report(a, df, "t", FAILED, {}, LIMITS, charts=[])
    states = dict((t[0], t[1]) for t in tiles(page))
    assert states["startup"] == states["lagged"] == "breached"
    assert states["media"] == "none"  # no check recorded: the figure alone
    assert "✗ breached: 0.80 s" in page


def test_the_fragment_opens_with_the_verdict_and_tiles_then_charts_then_the_summary(failing):
    a, df, verdict = failing
    made = charts(a, df, LIMITS)
    frag = report.summary_html(a, df, verdict, LIMITS, title="t[<x>]", charts=made)
    assert frag.startswith('<div class="sp-report"><style>')
    after_style = frag.split("</style>", 1)[1]
    assert after_style.startswith('<h2>t[&lt;x&gt;]</h2><section class="sp-glance"><p>'
                                  '<span class="sp-verdict sp-fail">FAIL</span>')
    at = [after_style.index(m) for m in ('<div class="sp-tiles">', '<ul class="sp-breaches">',
                                         "data:image/png;base64,", "startup_p95_s")]
    assert at == sorted(at)
    assert [t[:2] for t in tiles(frag)][2] == ("lagged", "breached")
    assert "<x>" not in frag


def test_settings_left_empty_are_not_listed(run):
    a, df, made = run
    settings = {"users": 12, "percent_new": 0, "sleep_between_steps_s": 0.0,
                "api_url": "", "token": "", "media_port": None, "sla": [],
                "protocol_mix": (), "ssh_insecure": False, "precreate_fans": True}
    page = report.render_report(a, df, "t", PASSED, settings, None, charts=made)
    table = page.split("<h2>Settings</h2>")[1].split("</table>")[0]
    listed = re.findall(r"<td><code>([^<]*)</code></td>", table)
    assert listed == ["users", "percent_new", "sleep_between_steps_s", "precreate_fans"]
    empty = report.render_report(a, df, "t", PASSED, {"api_url": ""}, None, charts=made)
    assert "No settings recorded." in empty


def test_the_runs_table_is_built_from_each_runs_summary_record(run):
    """pytest-html's "streamperf runs" block: under pytest-xdist the controller has only
    the workers' summary.json records, so the table is built from records."""
    a = run[0]
    records = [{"name": "test_live[<storm>]", "metrics": a.summary(), "verdict": {"word": "FAIL"}},
               {"name": "test_live[steady]", "metrics": {}, "verdict": {"word": "PASS"}}]
    block = report.aggregate_html(records)
    rows = re.findall(r"<tr>(.*?)</tr>", block, re.S)[1:]
    assert len(rows) == 2
    assert "test_live[&lt;storm&gt;]" in rows[0] and "sp-fail" in rows[0]
    assert f">{a.summary()['viewers_with_media']}<" in rows[0]
    assert "sp-pass" in rows[1]  # a record without figures still gets its row


def test_only_complete_worker_records_make_rows(tmp_path):
    """Under xdist the controller reads each run's summary.json the reports name; one
    that is missing, not JSON or not a record is left out, not a traceback."""
    import json
    import types

    from streamperf.pytest_plugin import _worker_run_summaries

    good = {"name": "test_live[storm]", "metrics": {}, "verdict": {"word": "PASS"}}
    contents = {"good": json.dumps(good), "garbage": "{not json",
                "list": "[1, 2]", "no-word": json.dumps({**good, "verdict": "PASS"})}
    for name, text in contents.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(text)
    reports = [types.SimpleNamespace(user_properties=[("streamperf_run_dir", tmp_path / n)])
               for n in [*contents, "missing", "good"]]
    assert _worker_run_summaries({"passed": reports, "failed": []}) == [good]


# --- escaping cannot be forgotten: a hostile text in every field that reaches the page -----

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=1>&amp;'
VOID = {"meta", "img", "br", "hr", "input", "link"}


def hostile(field: str) -> str:
    """The field's own hostile text, so each field is found (or missed) on its own."""
    return f"{field}:{HOSTILE}"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element] = dc_field(default_factory=list)
    text: str = ""  # its text and its descendants', as a browser shows it

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        found = [e for c in self.children for e in (c, *c.all())]
        return [e for e in found if (tag is None or e.tag == tag)
                and (cls is None or cls in e.classes)]

    def next_sibling(self, of: Element) -> Element:
        return self.children[self.children.index(of) + 1]


class Tree(HTMLParser):
    """The page as a browser reads it: every element must close the one it opened."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open = [self.root]
        self.feed(page)
        self.close()
        assert [e.tag for e in self.open] == ["#document"], "elements left open"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def parent_of(root: Element, child: Element) -> Element:
    return next(e for e in (root, *root.all()) if child in e.children)


def assert_laid_out_as_a_browser_expects(page: str, word: str, charts: int) -> Tree:
    """What test_report_browser.py's probe reads, and nothing the log slipped in."""
    tree = Tree(page)
    root = tree.root
    assert not root.all("script") and not [e for e in root.all() if "onerror" in e.attrs]
    images = root.all("img")
    assert len(images) == charts
    assert all(i.attrs["src"].startswith("data:image/png;base64,") for i in images)
    heading = (root.all("h1") or root.all("h2"))[0]
    glance = parent_of(root, heading).next_sibling(heading)
    assert glance.tag == "section" and glance.classes == ["sp-glance"]
    assert [c.tag for c in glance.children[:2]] == ["p", "div"]
    assert glance.children[1].classes == ["sp-tiles"]
    assert glance.all(cls="sp-verdict")[0].text == word
    tiles = root.all("div", "sp-tile")
    assert [t.attrs["data-tile"] for t in tiles[:6]] == ["media", "startup", "lagged",
                                                         "bitrate", "stalls", "errors"]
    assert all(t.attrs["data-state"] and len(t.all(cls="sp-tile-figure")) == 1 for t in tiles)
    for table in root.all("table"):  # a value that closed its cell would shift the rest
        width = len(table.all("th"))
        assert {len(tr.all("td")) for tr in table.all("tbody")[0].all("tr")} <= {width}
    return tree


@pytest.fixture(scope="module")
def hostile_run():
    """The synthetic run with a hostile text in every field the report shows."""
    import csv
    import io

    from streamperf.results.eventlog.rows import read_events
    from streamperf.results.eventlog.schema import COLUMNS, Event

    tl = synthetic_run(hosts=("gen1", hostile("host")))
    tl.viewer(hostile("viewer"), play_at=100.5, seconds=30, stall_at=10, stall_s=4)
    tl.add(101.0, hostile("viewer"), ev.VIEWER_ERROR, "disconnect", 0, "", hostile("error"))
    tl.add(102.0, "fan6", ev.VIEWER_ERROR, hostile("kind"), 0, "", "an error of its own kind")
    tl.add(100.4, "fan5", ev.API, hostile("endpoint"), 0.3, "500", "bad request")
    tl.rows.append(Event(115.0, hostile("lost"), "fan1", ev.VIEWER_ERROR, ev.LOST_HOST, 0.0,
                         "", hostile("why")))
    buf = io.StringIO()  # quoted: Timeline.frame() would split a hostile text at its quote
    csv.writer(buf).writerows([COLUMNS, *([str(x) for x in row] for row in tl.rows)])
    buf.seek(0)
    a, df, verdict = judged(read_events(buf))
    a.info["faults"] = [hostile("fault")]
    breach = Breach(hostile("check"), hostile("measured"), hostile("limit"), hostile("worst"))
    verdict = Verdict(verdict.word, (*verdict.breaches, breach), checks=verdict.checks,
                      not_applicable=(hostile("threshold"),))
    settings = {"users": 12, "note": hostile("setting"), hostile("key"): 1,
                "legit": "1 < 2 & 'ok'"}
    page = report.render_report(a, df, hostile("title"), verdict, settings, LIMITS, charts=[])
    fragment = report.summary_html(a, df, verdict, LIMITS, title=hostile("title"), charts=[])
    return verdict, page, fragment


PAGE_FIELDS = ("title", "viewer", "error", "kind", "endpoint", "host", "lost", "why", "fault",
               "check", "measured", "limit", "worst", "threshold", "setting", "key")
# The fragment has no settings, breakdown or viewer tables: the hostile host has
# samples only, so it reaches the page's by-host table alone.
FRAGMENT_FIELDS = tuple(f for f in PAGE_FIELDS if f not in ("host", "setting", "key"))


@pytest.mark.parametrize("which", ["page", "fragment"])
def test_every_field_reaches_the_page_as_text_never_as_markup(hostile_run, which):
    verdict, page, fragment = hostile_run
    html_text = page if which == "page" else fragment
    fields = PAGE_FIELDS if which == "page" else FRAGMENT_FIELDS
    # Nowhere in the source as written, not even in part...
    assert HOSTILE not in html_text
    assert "<script" not in html_text and "<img src=x" not in html_text
    assert '"><img' not in html_text  # nor a quote that ends an attribute
    # ...each field shown exactly as logged: escaped once, neither raw nor twice
    # (a planted `&amp;` reads `&amp;`, not `&`; an escaped `&lt;` would read `&lt;`).
    tree = assert_laid_out_as_a_browser_expects(html_text, verdict.word, charts=0)
    shown = tree.root.text
    assert [f for f in fields if hostile(f) not in shown] == []
    assert html_text.count("&amp;amp;") >= len(fields)
    if which == "page":
        assert "1 &lt; 2 &amp; &#x27;ok&#x27;" in page  # a legitimate value, escaped
        assert "<h2>By host</h2>" in page and ">gen1<" in page


def test_the_runs_table_shows_a_hostile_run_name_as_text():
    block = report.aggregate_html([{"name": hostile("run"), "metrics": {},
                                    "verdict": {"word": "PASS"}}])
    assert HOSTILE not in block and "<script" not in block
    assert hostile("run") in Tree(block).root.all("td")[0].text


def test_the_report_page_is_laid_out_as_the_browser_test_reads_it(run, page):
    _, _, made = run
    tree = assert_laid_out_as_a_browser_expects(page, "FAIL", charts=len(made))
    settings = next(h for h in tree.root.all("h2") if h.text == "Settings")
    table = parent_of(tree.root, settings).next_sibling(settings)
    assert table.tag == "table"
    assert [tr.all("td")[0].text for tr in table.all("tbody")[0].all("tr")] == [
        "users", "token", "streams_api_token", "api_url"]


def test_a_template_cannot_print_a_value_unescaped_or_a_name_it_was_not_given():
    import jinja2

    from streamperf.results.report.templating import _environment

    env = _environment()
    assert env.from_string('<p title="{{ x }}">{{ x }}</p>').render(x="\"<b>'&") == (
        '<p title="&quot;&lt;b&gt;&#x27;&amp;">&quot;&lt;b&gt;&#x27;&amp;</p>')
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
