"""Data Docs of real MovieLens batches: offline assets, suite links, quarantine counts.

One workspace gets two batches (an items file, then events with three bad rows; each is
validated in two chunks); the tests read the site GX built. The browser test runs when
Chromium is installed, with every network request sent to a closed port.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from recloop.data.ingest import ingest_path
from recloop.data.store import dispose_stores
from recloop.settings import Settings
from recloop.validation.docs_offline import rewrite_page

BAD_ROWS = ["196,242,7,881250949", "196,243,3,881250949000", ",244,3,881250949"]
# What a page loads: script and image sources, stylesheets and icons, CSS url().
LOADED = re.compile(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]*)"', re.IGNORECASE)
CSS_URL = re.compile(r"""url\(['"]?([^'")]*)['"]?\)""")
SUITE_LINK = re.compile(r'href=\\?"([^"\\]*expectations/recloop_\w+\.html)\\?"')


@pytest.fixture(scope="module")
def site(tmp_path_factory, movielens_dir, ml_lines):
    """The Data Docs site after an items batch and an events batch with bad rows."""
    root = tmp_path_factory.mktemp("docs")
    settings = Settings(
        home=root / "home",
        database_url=f"sqlite:///{root / 'store.db'}",
        ingest={"data_docs": True, "chunk_rows": 1000},
    )
    items = ingest_path(settings, movielens_dir / "items.csv", "items")
    batch = root / "events.csv"
    batch.write_text("\n".join(["user_id,item_id,rating,timestamp", *ml_lines[:1200], *BAD_ROWS]))
    events = ingest_path(settings, batch, "events")
    dispose_stores()
    assert events.data_docs and items.data_docs == events.data_docs
    site_dir = settings.gx_dir / "uncommitted" / "data_docs" / "local_site"
    return {"dir": site_dir, "items": items, "events": events}


def _pages(site_dir: Path) -> list[Path]:
    return sorted(site_dir.rglob("*.html"))


def test_pages_load_nothing_from_the_network_and_every_asset_exists(site):
    pages = _pages(site["dir"])
    assert len(pages) == 1 + 2 + 4  # the index, two suites, two chunks of each batch
    for page in pages:
        html = page.read_text()
        loaded = LOADED.findall(html) + CSS_URL.findall(html)
        assert not [u for u in loaded if u.startswith(("http:", "https:", "//"))], page
        assets = [u for u in loaded if "static/recloop/" in u]
        assert len(assets) >= 10, page  # jQuery, Bootstrap, bootstrap-table, Font Awesome...
        for url in assets:
            assert (page.parent / url).resolve().is_file(), (page, url)
        assert "integrity=" not in html and "crossorigin=" not in html


def test_suite_links_lead_to_suite_pages(site):
    site_dir = site["dir"]
    index = site_dir / "index.html"
    linked = {index.parent / link for link in SUITE_LINK.findall(index.read_text())}
    for page in (site_dir / "validations").rglob("*.html"):
        [link] = set(SUITE_LINK.findall(page.read_text()))
        linked.add(page.parent / link)
    names = {p.resolve().relative_to(site_dir).as_posix() for p in linked}
    assert names == {"expectations/recloop_items.html", "expectations/recloop_events.html"}
    assert all(p.resolve().is_file() for p in linked)


def test_quarantine_counts_are_on_the_index_and_the_batch_pages(site):
    events = site["events"]
    assert (events.received, events.accepted, events.quarantined) == (1203, 1200, 3)
    index = (site["dir"] / "index.html").read_text()
    assert index.count('id="recloop-batches"') == 1
    table = index[index.index('id="recloop-batches"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    rows = re.findall(r"<tr>.*?</tr>", body, re.DOTALL)
    assert len(rows) == 2 and events.batch_id[:12] in rows[0]  # newest first
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td.*?</td>", rows[0], re.S)]
    assert cells[1:8] == ["events", events.batch_id[:12], "partial", "1,203", "1,200", "3", "0"]
    for code in ("value_out_of_range", "timestamp_in_milliseconds", "missing_user_id"):
        assert f"<code>{code}</code> 1" in rows[0]
    assert "year_unparseable" in rows[1]  # items: kept with a warning
    links = re.findall(r'href="([^"]+)"', rows[0])
    assert len(links) == 2 and all((site["dir"] / link).is_file() for link in links)
    for link in links:
        page = (site["dir"] / link).read_text()
        assert "quarantined <b>3</b>" in page and "<code>missing_user_id</code> 1" in page


def test_rewrite_points_cdn_tags_at_the_site_copy():
    html = (
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>\n'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js"'
        ' integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>\n'
        '<a href="https://greatexpectations.io">GX</a>\n'
        '<script src="https://example.org/new.js"></script>'
    )
    assert rewrite_page(html, "../..").splitlines() == [
        '<script src="../../static/recloop/jquery/jquery.min.js"></script>',
        '<script src="../../static/recloop/bootstrap/bootstrap.min.js"></script>',
        "",  # charts are not needed
        '<a href="https://greatexpectations.io">GX</a>',  # a link to follow stays
        '<script src="https://example.org/new.js"></script>',  # unknown: left for the test
    ]


def _chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed")
def test_pages_render_offline_in_chromium(site):
    def dom(page: Path) -> str:
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--proxy-server=127.0.0.1:9", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    index = dom(site["dir"] / "index.html")
    # bootstrap-table drew GX's lists (empty without its script): 4 chunks and 2 suites.
    assert index.count('data-index="') == 4 + 2 and "fixed-table-container" in index
    [page] = (site["dir"] / "validations").rglob("events-*-chunk2/*/*.html")
    assert "fixed-table-container" in dom(page)
