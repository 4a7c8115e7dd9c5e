"""Make Great Expectations Data Docs pages work with no network.

GX 1.24 writes pages whose styles and scripts come from CDNs (jQuery, Bootstrap,
bootstrap-table, Font Awesome...); its index list is drawn by bootstrap-table from data in
the page, so offline the index shows an empty list. GX offers no setting for local assets
(custom views cannot replace its templates), so after each build the pages it wrote are
rewritten: every known CDN tag points at a copy of the file bundled with recloop
(``data_docs_assets/``, copied into ``<site>/static/recloop/``), or is removed when the
pages do not need it (see the assets' README).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "data_docs_assets"
SITE_ASSETS_DIR = "static/recloop"  # relative to the site root

_BT = "https://unpkg.com/bootstrap-table@"
# CDN URL (query left out) -> the file that replaces it, relative to the site root;
# None: the tag is removed.
ASSETS: dict[str, str | None] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/bootstrap.min.js"
    ),
    f"{_BT}1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    f"{_BT}1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    # The GX pages ask for the filter-control CSS at 1.19.0 and its script at 1.19.1.
    f"{_BT}1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/bootstrap-table-filter-control.min.css"
    ),
    f"{_BT}1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/bootstrap-table-filter-control.min.css"
    ),
    f"{_BT}1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/bootstrap-table-filter-control.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
    # Charts are drawn on profiling pages only; a dark theme is optional.
    "https://cdn.jsdelivr.net/npm/vega@5": None,
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": None,
}
SITE_FILES = {
    url: None if path is None else f"{SITE_ASSETS_DIR}/{path}" for url, path in ASSETS.items()
}
# The navbar logo comes from S3 (with the context id in the query; a dark variant in the
# dark-theme CSS); GX ships the logo in the site itself.
_LOGOS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
SITE_FILES[f"{_LOGOS}logo-long.png"] = "static/images/logo-long.png"
SITE_FILES[f"{_LOGOS}full_logo_dark.png"] = "static/images/logo-long.png"

# A tag that loads something (script, stylesheet, icon, image); a script's end tag with it.
_LOADING_TAG = re.compile(r"<(script|link|img)\b[^>]*>(?:\s*</script>)?", re.IGNORECASE)
_URL_ATTRIBUTE = re.compile(r'\b(src|href)="(https?://[^"]*)"')
_CORS_ATTRIBUTES = re.compile(r'\s+(integrity|crossorigin)="[^"]*"')
_CSS_URL = re.compile(r"""url\((['"]?)(https?://[^'")]*)\1\)""")


def make_offline(site_dir: Path, pages: Iterable[Path]) -> None:
    """Copy the bundled assets into ``site_dir`` and point ``pages`` at them.

    Args:
        site_dir: the Data Docs site root (holds ``index.html``).
        pages: HTML files under ``site_dir`` that GX has just written.
    """
    copy_assets(site_dir / SITE_ASSETS_DIR)
    for page in pages:
        relative_root = os.path.relpath(site_dir, page.parent).replace(os.sep, "/")
        text = page.read_text(encoding="utf-8")
        offline = rewrite_page(text, relative_root)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
        left = network_assets(offline)
        if left:
            log.warning("Data Docs page %s still loads from the network: %s", page, left)


def copy_assets(target: Path) -> None:
    """Copy the bundled files (licences included) into ``target``; unchanged ones are kept."""
    for source in ASSETS_DIR.rglob("*"):
        if not source.is_file():
            continue
        destination = target / source.relative_to(ASSETS_DIR)
        if destination.exists() and destination.stat().st_size == source.stat().st_size:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def rewrite_page(html: str, relative_root: str) -> str:
    """``html`` with every known CDN tag pointed at the site's copy, or removed.

    Args:
        html: one Data Docs page.
        relative_root: the site root as seen from the page (``.``, ``../..``).
    """

    def replace(match: re.Match[str]) -> str:
        tag = match.group(0)
        url = _URL_ATTRIBUTE.search(tag)
        if url is None:
            return tag
        base = url.group(2).split("?", 1)[0]
        if base not in SITE_FILES:
            return tag
        path = SITE_FILES[base]
        if path is None:
            return ""
        local = f'{url.group(1)}="{relative_root}/{path}"'
        # A local file has no CORS headers: ``crossorigin`` would block it under file://.
        return _CORS_ATTRIBUTES.sub("", tag[: url.start()] + local + tag[url.end() :])

    def replace_css(match: re.Match[str]) -> str:
        path = SITE_FILES.get(match.group(2).split("?", 1)[0])
        return f"url('{relative_root}/{path}')" if path else match.group(0)

    return _CSS_URL.sub(replace_css, _LOADING_TAG.sub(replace, html))


def network_assets(html: str) -> list[str]:
    """The http(s) URLs that ``html`` still loads: tags and CSS ``url()``, not links to follow."""
    found = (_URL_ATTRIBUTE.search(match.group(0)) for match in _LOADING_TAG.finditer(html))
    return [url.group(2) for url in found if url] + [
        match.group(2) for match in _CSS_URL.finditer(html)
    ]
