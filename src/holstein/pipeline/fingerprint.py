"""Which package code a job runs, and a hash of it that ignores what does not execute.

A pipeline job runs an adapter script that imports modules of this package, which import
others.  ``import_closure`` follows those imports statically through the source files:
module-level and function-level imports alike (a lazily imported module still runs), and
both ``from . import x`` and ``from .x import y`` forms.  ``code_fingerprint`` hashes the
abstract syntax trees of the closure with docstrings removed, so an edit that changes
what runs changes the hash while a comment, docstring or formatting edit does not.

The workflow passes the fingerprint of each rule's adapter as a job parameter: a code
change re-runs exactly the jobs whose code changed.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "holstein"


def package_root() -> Path:
    """The directory of this package's sources (the one this module was imported from)."""
    return Path(__file__).resolve().parents[1]


def module_path(module: str, root: Path | None = None) -> Path:
    """Source file of a dotted module name of this package ('holstein.ml.model')."""
    root = package_root() if root is None else Path(root)
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"{module!r} is not a module of the {PACKAGE} package")
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    raise FileNotFoundError(f"no source for module {module!r} under {root}")


def _is_package(module: str, root: Path) -> bool:
    return module_path(module, root).name == "__init__.py"


def _exists(module: str, root: Path) -> bool:
    try:
        module_path(module, root)
    except FileNotFoundError:
        return False
    return True


# The workflow fingerprints a dozen overlapping closures at every parse: each distinct
# source text is parsed and hashed once.
@functools.lru_cache(maxsize=1024)
def _import_statements(source: str) -> tuple[ast.Import | ast.ImportFrom, ...]:
    return tuple(node for node in ast.walk(ast.parse(source))
                 if isinstance(node, (ast.Import, ast.ImportFrom)))


def imported_modules(source: str, module: str | None, root: Path) -> set[str]:
    """Modules of the package that ``source`` (of ``module``) imports, anywhere in it.

    ``module`` is the dotted name of the importing module (for relative imports), or
    None for a script outside the package.
    """
    found: set[str] = set()
    package = None
    if module is not None:
        package = module if _is_package(module, root) else module.rpartition(".")[0]
    for node in _import_statements(source):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == PACKAGE:
                base = node.module
            else:
                continue
            found.add(base)
            # `from pkg import name`: name may itself be a submodule
            found.update(f"{base}.{a.name}" for a in node.names
                         if _exists(f"{base}.{a.name}", root))
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    parents = {".".join(m.split(".")[:k]) for m in found for k in range(1, m.count(".") + 1)}
    return {m for m in found | parents if _exists(m, root)}


def import_closure(script: str | Path, root: Path | None = None) -> list[str]:
    """Sorted dotted names of every package module the script imports, transitively."""
    root = package_root() if root is None else Path(root)
    pending = imported_modules(Path(script).read_text(), None, root)
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending |= imported_modules(module_path(module, root).read_text(), module, root) - seen
    return sorted(seen)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(path: str | Path) -> str:
    """sha256 of a Python file's syntax tree without docstrings (comments never enter it)."""
    return _source_digest(Path(path).read_text())


@functools.lru_cache(maxsize=1024)
def _source_digest(source: str) -> str:
    tree = _without_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def code_fingerprint(script: str | Path, root: Path | None = None) -> str:
    """One short hash of a script and its package import closure (``import_closure``)."""
    root = package_root() if root is None else Path(root)
    h = hashlib.sha256(source_fingerprint(script).encode())
    for module in import_closure(script, root):
        h.update(module.encode())
        h.update(source_fingerprint(module_path(module, root)).encode())
    return h.hexdigest()[:16]

