"""Paper vs. this book: every chapter ends with a table of the paper's claims and what we measured.

A paper package describes its claims once, as data (:class:`Claim`: the statement, the paper's
number and where in the paper it stands), and its ``findings(...)`` turns a run's recorded numbers
into one :class:`Finding` per claim: our number, in words, and a verdict computed from it.
:func:`findings_table` lays them out for the chapter and :func:`record_findings` records the table
and every verdict, so the tests read what the reader sees. No verdict is computed in a notebook.

Verdicts are "yes", "no", or "n/a (why)" where the data cannot test the claim (real data without
the ground truth, for instance).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

YES, NO = "yes", "no"


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, with the paper's own number and its source."""

    key: str          # short name: the verdict is recorded as ``claim_<key>``
    statement: str    # what the paper claims, in a few words
    paper: str        # the paper's number (or "qualitative")
    source: str       # section, figure, table or equation of the paper


@dataclass(frozen=True)
class Finding:
    claim: Claim
    ours: str         # what this run measured, in words and numbers
    verdict: str      # "yes", "no" or "n/a (...)"


def verdict(holds) -> str:
    """The "reproduced?" column: "yes" if ``holds`` is true, else "no"."""
    return YES if bool(holds) else NO


def not_applicable(why: str) -> str:
    """The verdict of a claim the data cannot test, with the reason."""
    return f"n/a ({why})"


def finding(claim: Claim, ours: str, holds=None, *, missing: str | None = None) -> Finding:
    """A :class:`Finding`: "n/a (missing)" if ``missing`` is given, else the verdict of ``holds``."""
    return Finding(claim, ours, not_applicable(missing) if missing else verdict(holds))


def findings_table(findings: Iterable[Finding]) -> pd.DataFrame:
    """One row per claim (indexed by its key): claim, paper (with its source), ours, reproduced."""
    rows = [{"key": f.claim.key, "claim": f.claim.statement,
             "paper": f"{f.claim.paper} ({f.claim.source})", "this book": f.ours,
             "reproduced": f.verdict} for f in findings]
    return pd.DataFrame(rows, columns=["key", "claim", "paper", "this book", "reproduced"]
                        ).set_index("key")


def record_findings(table: pd.DataFrame, *, name: str = "findings") -> pd.DataFrame:
    """Record the table under ``name`` and each verdict as ``claim_<key>``; returns the table."""
    from .record import record

    record(name, table)
    for key, reproduced in table["reproduced"].items():
        record(f"claim_{key}", reproduced)
    return table


def show_findings(table: pd.DataFrame):
    """The table as the chapter shows it: left-aligned text, wrapped, verdicts coloured."""
    colours = {YES: "color: #1a7f37; font-weight: bold", NO: "color: #cf222e; font-weight: bold"}
    return (table.reset_index(drop=True).style.hide(axis="index")
            .set_properties(**{"text-align": "left", "white-space": "normal"})
            .map(lambda value: colours.get(value, "color: #6e7781"), subset=["reproduced"]))
