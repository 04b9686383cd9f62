"""The report page in a real headless Chromium, network off: the plot renders one marker per trial,
the front table lists the front, sorting works, and a screenshot is saved."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kdnas.report import build_report
from tests.report.kit import DEMO_FRONT, demo_study, sqlite_url

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium at /usr/bin/chromium "
                                                          "(apt-get install chromium; .ci/run installs it)")

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Dom(HTMLParser):
    """Just enough of the DOM: marker paths per figure, and the front table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.points: dict[str, int] = {}
        self.front_rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def _inside(self, key: str, value: str) -> dict | None:
        for _, attrs in self.stack:
            if value in (attrs.get(key) or "").split():
                return attrs
        return None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "path" and "point" in (a.get("class") or "").split() and self._inside("class", "scatterlayer"):
            fig = next((at["id"] for _, at in reversed(self.stack) if (at.get("id") or "").startswith("fig-")), "?")
            self.points[fig] = self.points.get(fig, 0) + 1
        if tag == "tr" and self._inside("id", "front-table") and self._inside_tag("tbody"):
            self.front_rows.append([])
        if tag == "td" and self._inside("id", "front-table"):
            self._cell = []
        if tag not in _VOID:
            self.stack.append((tag, a))

    def _inside_tag(self, tag: str) -> bool:
        return any(t == tag for t, _ in self.stack)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self.front_rows:
            self.front_rows[-1].append("".join(self._cell).strip())
            self._cell = None
        for i in range(len(self.stack) - 1, -1, -1):  # tolerate unclosed tags
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'chromium-profile'}", "--virtual-time-budget=10000", *extra, page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _dom(page: Path, tmp: Path) -> _Dom:
    dom = _Dom()
    dom.feed(_chromium(page, tmp, "--dump-dom").stdout)
    return dom


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    tmp = tmp_path_factory.mktemp("browser")
    return build_report([demo_study(sqlite_url(tmp))], tmp / "reports")


def test_plot_renders_one_point_per_trial_and_the_front_table(report, tmp_path: Path) -> None:  # noqa: ANN001
    dom = _dom(report.index_html, tmp_path)
    n_trials = len(report.views[0].trials)
    # every trial is one marker (trained by accuracy, the rest in the strip), plus the teacher's star
    assert dom.points.get("fig-macs") == n_trials + 1, dom.points
    assert dom.points.get("fig-params") == n_trials + 1, dom.points
    assert [int(r[0]) for r in dom.front_rows] == DEMO_FRONT
    assert dom.front_rows[-1][1] == "93.00 %" and dom.front_rows[-1][-1].startswith("stem_c8-")


def test_front_table_sorts_on_header_click(report, tmp_path: Path) -> None:  # noqa: ANN001
    clicked = tmp_path / "clicked.html"
    html = report.index_html.read_text()
    click = ("<script>var th = document.querySelectorAll('#front-table th')[1]; th.click(); th.click();</script>")
    clicked.write_text(html.replace("</body>", click + "</body>"))
    dom = _dom(clicked, tmp_path)
    assert [int(r[0]) for r in dom.front_rows] == sorted(DEMO_FRONT, reverse=True)  # accuracy, descending


def test_screenshot(report, tmp_path: Path) -> None:  # noqa: ANN001
    shot = tmp_path / "shot.png"
    _chromium(report.index_html, tmp_path, f"--screenshot={shot}", "--window-size=1400,2400")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    keep = ROOT / "reports" / "benchmarks" / "report-screenshot.png"
    if not keep.exists():  # one copy for people to look at; tests never overwrite it
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep)
