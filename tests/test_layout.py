"""The package's floors: papers build on the shared layers, never the other way round.

``cellnb/papers/<paper>/`` may import anything below it; nothing below the papers imports a
paper; papers do not import each other; the science layers do not import the book tooling.
Read from the source with ``ast``, so a lazy import inside a function counts too.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cellnb"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the cellnb modules ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).parts[:-1])   # the folder's package
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module)
    return {name for name in names if name == "cellnb" or name.startswith("cellnb.")}


SOURCES = sorted(PACKAGE.rglob("*.py"))


def owner(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return ".".join(parts[:2]) if parts[0] == "papers" and len(parts) > 2 else parts[0]


def test_the_resolver_reads_relative_imports():
    model = PACKAGE / "papers" / "cytoself" / "model.py"
    assert "cellnb.nn.fast_cpu" in imported_modules(model)
    train = PACKAGE / "papers" / "cytoself" / "train.py"
    assert {"cellnb.train", "cellnb.papers.cytoself.model"} <= imported_modules(train)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PACKAGE)) for p in SOURCES])
def test_layers_import_only_downwards(path):
    imports = imported_modules(path)
    mine = owner(path)
    papers = {name for name in imports if name.startswith("cellnb.papers.")}
    if mine.startswith("papers."):
        foreign = {name for name in papers if not name.startswith(f"cellnb.{mine}")}
        assert not foreign, f"{path.relative_to(PACKAGE)} imports another paper: {foreign}"
    elif mine != "book":
        assert not papers, f"{path.relative_to(PACKAGE)} (below the papers) imports {papers}"
        book = {name for name in imports if name.startswith("cellnb.book")}
        assert not book, f"{path.relative_to(PACKAGE)} imports the book tooling: {book}"
