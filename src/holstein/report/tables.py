"""Numbers as HTML tables for the Snakemake report: one stand-alone page per result.

The report shows an HTML result inline, so a reader sees the numbers behind the figures
without opening a JSON file.  ``number`` is the one formatting of a value in a table.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

STYLE = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse;"
         "margin-bottom:1.5em} th,td{border:1px solid #ccc;padding:2px 6px;"
         "text-align:right} th{background:#eee}")


def number(value) -> str:
    """A table cell: 4 significant digits, yes/no for booleans, a dash for NaN, ''
    for None."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    return "–" if not math.isfinite(value) else f"{value:.4g}"


def html_page(title: str, intro: str, tables: dict[str, pd.DataFrame]) -> str:
    """A stand-alone HTML page: ``title``, an ``intro`` paragraph, then each table under
    its title (an empty table reads "none")."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h2>{html.escape(title)}</h2>",
        f"<p>{html.escape(intro)}</p>",
    ]
    for heading, table in tables.items():
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append("<p>none</p>" if table.empty
                     else table.to_html(index=False, border=0, escape=True))
    parts.append("</body></html>")
    return "\n".join(parts)
