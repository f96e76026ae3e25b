"""Sphinx extension for the cellnb book: offline plotly figures and an "Open in Colab" link.

Two things Jupyter Book does not do on its own:

* ``cellnb.display.show_plotly`` embeds figures as HTML that calls a global ``Plotly`` object.
  This extension copies ``plotly.min.js`` from the installed plotly package into the build's
  ``_static`` folder and loads it (before anything else) on the pages that contain a plotly
  figure, so the book renders its figures without an internet connection and without a CDN.
* Every chapter gets a visible "Open in Colab" link to its *clean* source notebook on GitHub,
  built from the single ``repository.url`` (and ``repository.branch``) of ``_config.yml``.
  Colab opens the source notebook rather than the executed copy, so a reader starts from the
  parameters cell with no stale outputs.

Enabled in ``_config.yml`` with ``sphinx: extra_extensions: [cellnb.book.extension]``.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

from .pipeline import NOTEBOOK_FOLDER

COLAB = "https://colab.research.google.com"
PLOTLY_JS = "plotly.min.js"
PLOTLY_MARKER = "plotly-graph-div"  # class of the div that plotly's to_html() writes

LINK_CLASS = "cellnb-colab-link"


def github_repository(repository_url: str) -> tuple[str, str]:
    """``https://github.com/OWNER/REPO`` -> ``(OWNER, REPO)``."""
    parsed = urlparse(repository_url.strip())
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.netloc.lower() not in ("github.com", "www.github.com") or len(parts) != 2:
        raise ValueError(f"repository.url must look like https://github.com/OWNER/REPO for Colab "
                         f"links, got {repository_url!r}; set it in _config.yml")
    owner, repo = parts
    return owner, repo.removesuffix(".git")


def colab_url(repository_url: str, branch: str, notebook_path: str) -> str:
    """The Colab URL that opens ``notebook_path`` (relative to the repository root)."""
    owner, repo = github_repository(repository_url)
    path = notebook_path.strip("/")
    if not path.endswith(".ipynb"):
        raise ValueError(f"Colab opens .ipynb files, got {notebook_path!r}")
    return f"{COLAB}/github/{owner}/{repo}/blob/{branch}/{path}"


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed plotly package."""
    try:
        import plotly
    except ImportError as error:
        raise ImportError("the book needs plotly (pip install -e '.[book]') to ship plotly.js "
                          "for its figures") from error
    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.exists():
        raise FileNotFoundError(f"plotly is installed but {path} is missing; reinstall plotly")
    return path


def _repository(app) -> tuple[str, str, str]:
    options = app.config.html_theme_options or {}
    url = options.get("repository_url") or ""
    if not url:
        from sphinx.errors import ExtensionError

        raise ExtensionError("cellnb.book.extension needs repository.url in _config.yml "
                             "(for example https://github.com/cellnb/cellnb) to link chapters "
                             "to Colab")
    return url, options.get("repository_branch") or "main", options.get("path_to_docs") or ""


def source_notebook(app, docname: str) -> str | None:
    """The repository path of the notebook behind ``docname``, or None for other pages."""
    source = Path(app.env.doc2path(docname, False))
    if source.suffix != ".ipynb" or source.parts[0] != NOTEBOOK_FOLDER:
        return None
    _, _, book_path = _repository(app)
    return "/".join(p for p in (book_path.strip("/"), source.as_posix()) if p)


def _add_colab_link(app, doctree) -> None:
    from docutils import nodes

    notebook = source_notebook(app, app.env.docname)
    if notebook is None:
        return
    url, branch, _ = _repository(app)
    link = nodes.reference("", "Open in Colab", refuri=colab_url(url, branch, notebook),
                           classes=[LINK_CLASS])
    paragraph = nodes.paragraph("", "", link, nodes.Text(f" — runs the clean source notebook "
                                                          f"{notebook}"),
                                classes=["cellnb-colab"])
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, paragraph)
    else:
        doctree.insert(0, paragraph)


def _load_plotly_where_needed(app, pagename, templatename, context, doctree) -> None:
    if PLOTLY_MARKER in context.get("body", ""):
        # a low priority puts it first, before any AMD loader that would capture it
        app.add_js_file(PLOTLY_JS, priority=100)


def _copy_plotly(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copy2(plotly_js_path(), static / PLOTLY_JS)


def setup(app):
    plotly_js_path()  # fail at start-up, not after a long build
    app.connect("doctree-read", _add_colab_link)
    app.connect("html-page-context", _load_plotly_where_needed)
    app.connect("build-finished", _copy_plotly)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
