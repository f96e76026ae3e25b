"""The ``cellnb`` command: run a chapter, build the book, write the student notebooks, simulate a
data set.

``cellnb run NOTEBOOK`` and ``cellnb book`` are thin wrappers around :mod:`cellnb.book.pipeline`,
``cellnb students`` around :mod:`cellnb.book.students`. ``cellnb sim`` writes a synthetic atlas
to disk. Its options are generated from the fields of ``cellnb.sim.AtlasConfig``, so a new
simulator setting is a command-line option without touching this file; the simulator is imported
only when ``sim`` runs, so ``run`` and ``book`` never pay for it (nor break with it).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Sequence

PROFILE_CHOICES = ("smoke", "cpu", "gpu", "auto")
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


# ---------------------------------------------------------------------------- values

def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE + ("1",):
        return True
    if lowered in _FALSE + ("0",):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_value(text: str):
    """``"3"`` -> 3, ``"0.5"``/``"1e-3"`` -> float, ``"true"``/``"false"`` -> bool, else the
    string itself (quotes around it are removed, so ``"'7'"`` stays the string ``'7'``)."""
    stripped = text.strip()
    if stripped.lower() in _TRUE:
        return True
    if stripped.lower() in _FALSE:
        return False
    for convert in (int, float):
        try:
            return convert(stripped)
        except ValueError:
            pass
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    return text


def parse_parameter(text: str) -> tuple[str, object]:
    """``"key=value"`` -> ``(key, parsed value)`` for ``-p``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"parameters are written name=value with a Python name, got {text!r}")
    return key, parse_value(value)


# ---------------------------------------------------------------------------- parser

def _add_run(subparsers) -> None:
    run = subparsers.add_parser("run", help="execute one notebook headlessly with papermill")
    run.add_argument("notebook", help="source notebook, e.g. notebooks/data.ipynb")
    run.add_argument("--profile", choices=PROFILE_CHOICES, default="auto")
    run.add_argument("-p", "--parameter", dest="parameters", action="append", default=[],
                     type=parse_parameter, metavar="NAME=VALUE",
                     help="override a value of the notebook's parameters cell (repeatable)")
    run.add_argument("--build-dir", default="_build/notebooks",
                     help="where the executed notebook and its metrics go")
    run.add_argument("--kernel", default="python3")
    run.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell")


def _add_book(subparsers) -> None:
    book = subparsers.add_parser("book", help="execute the chapters and build the HTML book")
    book.add_argument("--profile", choices=PROFILE_CHOICES, default="auto")
    book.add_argument("-p", "--parameter", dest="parameters", action="append", default=[],
                      type=parse_parameter, metavar="NAME=VALUE",
                      help="override a parameter in every chapter (repeatable)")
    book.add_argument("--only", nargs="+", metavar="NAME",
                      help="execute only these chapters (by notebook name); the others reuse "
                           "their executed copies")
    book.add_argument("--force", action="store_true",
                      help="re-execute every (selected) chapter, even those whose executed copy "
                           "is up to date")
    book.add_argument("--skip-execute", action="store_true",
                      help="build from the executed notebooks already in _build/notebooks")
    book.add_argument("--build-dir", default="_build")


def _add_students(subparsers) -> None:
    students = subparsers.add_parser(
        "students", help="write the student version (solutions removed) of every chapter that "
                         "has exercises")
    students.add_argument("--out", default="_build/students",
                          help="folder for the student notebooks (default _build/students)")
    students.add_argument("--only", nargs="+", metavar="NAME",
                          help="only these chapters (by notebook name)")


def _config_option(parser, field: dataclasses.Field) -> None:
    default = field.default if field.default is not dataclasses.MISSING else (
        field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
    if isinstance(default, bool):
        convert = parse_bool
    elif isinstance(default, (int, float, str)):
        convert = type(default)
    else:
        convert = parse_value
    names = [f"--{field.name.replace('_', '-')}"]
    if "_" in field.name:
        names.append(f"--{field.name}")
    parser.add_argument(*names, dest=f"config_{field.name}", type=convert, default=None,
                        metavar=type(default).__name__.upper() if default is not None else "VALUE",
                        help=f"AtlasConfig.{field.name} (default {default!r})")


def _add_sim(subparsers, config_class=None) -> None:
    sim = subparsers.add_parser("sim", help="simulate a synthetic atlas and write it to disk")
    sim.add_argument("--kind", choices=("crops", "fields"), required=True,
                     help="single-cell crops or whole fields of view")
    sim.add_argument("--out", required=True, help="output file (HDF5)")
    sim.add_argument("--workers", type=int, default=1)
    sim.add_argument("--no-progress", action="store_true")
    for field in dataclasses.fields(config_class) if config_class is not None else ():
        _config_option(sim, field)


def build_parser(config_class=None) -> argparse.ArgumentParser:
    """The argument parser; ``config_class`` (``AtlasConfig``) adds the ``sim`` options."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="cellnb", description="Run the chapters of the cellnb book and build it.")
    parser.add_argument("--version", action="version", version=f"cellnb {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(subparsers)
    _add_book(subparsers)
    _add_students(subparsers)
    _add_sim(subparsers, config_class)
    return parser


# ---------------------------------------------------------------------------- commands

def _run(args) -> int:
    from .pipeline import run_notebook

    output = run_notebook(args.notebook, profile=args.profile,
                          parameters=dict(args.parameters), build_dir=args.build_dir,
                          kernel=args.kernel, timeout=args.timeout)
    print(f"executed {args.notebook} -> {output}")
    return 0


def _book(args) -> int:
    from .pipeline import build_book

    index = build_book(profile=args.profile, only=args.only, skip_execute=args.skip_execute,
                       force=args.force, parameters=dict(args.parameters) or None,
                       build_dir=args.build_dir)
    print(f"book built: {index}")
    return 0


def _students(args) -> int:
    from .students import write_student_versions

    written = write_student_versions(".", args.out, only=args.only)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("no chapter has exercises yet: nothing written")
    return 0


def _sim(args, config_class) -> int:
    sim = importlib.import_module("cellnb.sim")
    write_imageset = importlib.import_module("cellnb.data.store").write_imageset

    values = {name.removeprefix("config_"): value for name, value in vars(args).items()
              if name.startswith("config_") and value is not None}
    config = config_class(**values)
    generate = sim.generate_crops if args.kind == "crops" else sim.generate_fields
    imageset = generate(config, workers=args.workers, progress=not args.no_progress)
    write_imageset(imageset, args.out)
    print(f"wrote {len(imageset)} {args.kind} of shape {imageset.images.shape[1:]} "
          f"({', '.join(imageset.channels)}) to {args.out}")
    return 0


def _wants_sim(argv: Sequence[str]) -> bool:
    positional = [arg for arg in argv if not arg.startswith("-")]
    return bool(positional) and positional[0] == "sim"


def _atlas_config_class():
    try:
        return importlib.import_module("cellnb.sim").AtlasConfig
    except (ImportError, AttributeError) as error:
        raise SystemExit(f"cellnb sim: the simulator is not available ({error}); "
                         "reinstall cellnb with `pip install -e .`") from error


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    config_class = _atlas_config_class() if _wants_sim(argv) else None
    args = build_parser(config_class).parse_args(argv)
    from .pipeline import BookBuildError, NotebookExecutionError

    try:
        if args.command == "run":
            return _run(args)
        if args.command == "book":
            return _book(args)
        if args.command == "students":
            return _students(args)
        return _sim(args, config_class)
    except (NotebookExecutionError, BookBuildError, FileNotFoundError, ValueError) as error:
        print(f"cellnb {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
