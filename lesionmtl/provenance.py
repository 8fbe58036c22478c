"""Content hashes of the package code each workflow stage runs.

Snakemake does not track code imported by scripts. Passing these hashes as rule params makes an
edit to, say, the clustering code rerun clustering and everything downstream of it, and nothing
else. A stage's code is every ``lesionmtl`` module its workflow script imports, transitively
(read from the source with :mod:`ast`, imports inside functions included), so the list cannot
fall behind the code. A module a registry names for a lazy import (a string constant
``"lesionmtl.x.y"`` or ``"lesionmtl.x.y:function"``, as in :mod:`lesionmtl.formats`) counts as
imported by the module that names it.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "lesionmtl"
PACKAGE_DIR = Path(__file__).resolve().parent
# Where a job's messages go: an edit there cannot change a result, so it reruns nothing.
NOT_RESULT_SHAPING = frozenset({"lesionmtl.logs"})


def module_file(module: str) -> Path | None:
    """The source file of package module ``module`` (a package's ``__init__.py``), if there is one."""
    if module.split(".")[0] != PACKAGE:
        return None
    path = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__`` too."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imported_modules(source: Path, module: str | None = None) -> set[str]:
    """The package modules the file ``source`` imports directly; ``module`` is its own name
    (None for a script), to resolve relative imports. ``from x import name`` counts ``x.name``
    where that is a module."""
    package = module if module and source.name == "__init__.py" else ".".join((module or "").split(".")[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(f"{PACKAGE}."):
            names = [node.value.split(":")[0]]  # a lazy import named by a registry
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if module_file(name) is not None:
                found.update(m for m in _with_parents(name) if module_file(m) is not None)
    return found - NOT_RESULT_SHAPING


def script_modules(script: str | Path) -> list[str]:
    """Every package module a workflow script runs: what it imports, transitively."""
    todo = sorted(imported_modules(Path(script)))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imported_modules(module_file(module), module) - seen)
    return sorted(seen)


def code_hash(script: str | Path) -> str:
    """Short SHA-256 over the source of the package modules the workflow script ``script`` runs."""
    digest = hashlib.sha256()
    for module in script_modules(script):
        file = module_file(module)
        digest.update(file.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
