"""Make a published asv site work offline: its CDN scripts and styles served from local copies.

asv 0.6's ``index.html`` loads jQuery, flot (with its time, selection and categories plugins),
flot-orderBars, stupidtable, blueimp-md5 and Bootstrap from public CDNs; without internet (a
nightly GPU box often has none) the page only shows asv's "failed to load" message. After
``asv publish``, :func:`make_offline` copies each library from an installed package that ships
it into ``<html>/vendor/`` and points the tags at those copies:

=================  ==========================================================================
jQuery             ``XStatic-jQuery`` (PyPI), ``xstatic/pkg/jquery/data/jquery.min.js``
flot and plugins   ``js.jquery_flot`` (PyPI, flot 0.8.1), ``js/jquery_flot/resources/*.min.js``
Bootstrap 3        ``js.bootstrap`` (PyPI, Bootstrap 3.1.1, the version asv uses)
stupidtable, md5,  no package on PyPI ships them: small implementations written for pairbench
flot-orderBars     (``suite/asv/assets/``) of exactly what asv calls (see each file's header)
=================  ==========================================================================

No library code is copied into this repository. The CDN's ``integrity``/``crossorigin``
attributes are dropped for the local files. A CDN URL this module does not know (a newer asv)
is an error naming it, never a silently broken page.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from suite.errors import UsageError

#: folder (inside the html dir) the local copies go to
VENDOR = "vendor"
_ASSETS_DIR = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class Asset:
    """Where the local copy of one CDN file comes from.

    Attributes:
        pattern: regular expression matching the CDN URL's path.
        name: the file name under ``vendor/``.
        distribution: the installed distribution that ships the file (None: pairbench's own).
        path: the file inside the distribution (or inside ``suite/asv/assets``).
    """

    pattern: str
    name: str
    distribution: str | None
    path: str

    def source(self) -> Path:
        """The installed file.

        Raises:
            UsageError: the distribution is not installed or lacks the file.
        """
        if self.distribution is None:
            return _ASSETS_DIR / self.path
        try:
            found = Path(str(metadata.distribution(self.distribution).locate_file(self.path)))
        except metadata.PackageNotFoundError:
            raise UsageError(
                f"cannot make the asv site work offline: package {self.distribution!r} is not installed "
                f"(pip install {self.distribution})"
            ) from None
        if not found.is_file():
            raise UsageError(f"package {self.distribution!r} has no {self.path} (found {found})")
        return found


_FLOT = "js/jquery_flot/resources"
ASSETS: tuple[Asset, ...] = (
    Asset(
        r"/jquery-[\d.]+\.min\.js$",
        "jquery.min.js",
        "XStatic-jQuery",
        "xstatic/pkg/jquery/data/jquery.min.js",
    ),
    Asset(r"/jquery\.flot\.min\.js$", "jquery.flot.min.js", "js.jquery_flot", f"{_FLOT}/jquery.flot.min.js"),
    *(
        Asset(
            rf"/jquery\.flot\.{p}\.min\.js$",
            f"jquery.flot.{p}.min.js",
            "js.jquery_flot",
            f"{_FLOT}/jquery.flot.{p}.min.js",
        )
        for p in ("time", "selection", "categories")
    ),
    Asset(r"/jquery\.flot\.orderBars\.js$", "jquery.flot.orderBars.js", None, "jquery.flot.orderBars.js"),
    Asset(r"/stupidtable(\.min)?\.js$", "stupidtable.js", None, "stupidtable.js"),
    Asset(r"/md5(\.min)?\.js$", "md5.js", None, "md5.js"),
    Asset(
        r"/bootstrap(\.min)?\.js$",
        "bootstrap.min.js",
        "js.bootstrap",
        "js/bootstrap/resources/js/bootstrap.min.js",
    ),
    Asset(
        r"/bootstrap(\.min)?\.css$",
        "bootstrap.min.css",
        "js.bootstrap",
        "js/bootstrap/resources/css/bootstrap.min.css",
    ),
)
_TAG = re.compile(r"<(script|link)\b[^>]*?\b(src|href)=\"(https?://[^\"]+)\"[^>]*>", re.I)
_CDN_ATTRS = re.compile(r"\s(integrity|crossorigin|referrerpolicy)(=\"[^\"]*\")?", re.I)


def asset_for(url: str) -> Asset:
    """The :class:`Asset` of a CDN URL.

    Raises:
        UsageError: no local copy is known for it.
    """
    path = re.sub(r"^https?://[^/]+", "", url)
    for asset in ASSETS:
        if re.search(asset.pattern, path):
            return asset
    raise UsageError(
        f"asv's page loads {url} from the internet and pairbench has no local copy of it "
        "(a newer asv?): the published site would not work offline"
    )


def make_offline(html_dir: Path | str, pages: tuple[str, ...] = ("index.html",)) -> list[str]:
    """Point a published asv site's CDN tags at local copies (idempotent).

    Args:
        html_dir: asv's ``html_dir`` after ``asv publish``.
        pages: the HTML files to rewrite (asv 0.6 has one page; the regressions view is a part of it).

    Returns:
        The CDN URLs that were replaced (empty when the site was already offline).

    Raises:
        UsageError: no such site, or a CDN URL without a known local copy (nothing is changed then).
    """
    html_dir = Path(html_dir)
    targets = [html_dir / p for p in pages]
    missing = [str(t) for t in targets if not t.is_file()]
    if missing:
        raise UsageError(f"no published asv site: {', '.join(missing)} missing (run `asv publish` first)")
    texts = {t: t.read_text(encoding="utf-8") for t in targets}
    urls = sorted({m.group(3) for text in texts.values() for m in _TAG.finditer(text)})
    assets = {url: asset_for(url) for url in urls}  # every URL known before anything is written
    vendor = html_dir / VENDOR
    vendor.mkdir(exist_ok=True)
    for asset in set(assets.values()):
        shutil.copyfile(asset.source(), vendor / asset.name)

    def local(match: re.Match[str]) -> str:
        tag = match.group(0).replace(match.group(3), f"{VENDOR}/{assets[match.group(3)].name}")
        return _CDN_ATTRS.sub("", tag)

    for target, text in texts.items():
        new = _TAG.sub(local, text)
        if new != text:
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(target)
    return urls
