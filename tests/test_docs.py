"""The user's documents hold: every relative link and every cited repository file exists.

README.md, config/README.md and docs/*.md: markdown links and images resolve from the
file's own folder; repository paths they cite (``benchmarks/...``, ``docs/...``,
``scripts/...`` and the like, in backticks or in commands) exist from the repository
root.  The package's docstrings and comments are held to the same for the docs/ files
they cite.  Outputs under results/ are not committed and are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "config" / "README.md",
             *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"(?<![\w/.-])((?:benchmarks|docs|scripts|tests|src|config|workflow|"
                   r"profiles|envs)/[\w./-]*\w\.(?:py|sh|json|png|md|yaml|smk|rst|txt))\b")


def links(path: Path):
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+://", target) or target.startswith(("#", "mailto:")):
            continue
        yield target.split("#")[0]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    missing = [t for t in links(document) if t and not (document.parent / t).exists()]
    assert not missing, f"{document.relative_to(ROOT)}: broken links {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_file_exists(document):
    cited = {c for c in CITED.findall(document.read_text())
             if not c.startswith("benchmarks/out/")}  # what a benchmark writes, not kept
    missing = sorted(c for c in cited if not (ROOT / c).exists())
    assert not missing, f"{document.relative_to(ROOT)}: cites missing files {missing}"


def test_the_package_cites_only_documents_that_exist():
    missing = []
    for module in sorted((ROOT / "src").rglob("*.py")):
        for cited in set(re.findall(r"\b(docs/[\w.-]+\.md)\b", module.read_text())):
            if not (ROOT / cited).exists():
                missing.append(f"{module.relative_to(ROOT)}: {cited}")
    assert not missing, missing
