"""Finding a page's functions in its ``scripts/`` folder without importing (running) any user code.

A function of the page is a public, top-level ``def name(state, context)`` in a ``scripts/*.py`` file. Other
functions in those files are private helpers. Two scripts may not define the same function name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .errors import Issue, shown

SCRIPTS_DIR = "scripts"


@dataclass(frozen=True)
class FunctionInfo:
    """A function a page's events can bind to."""

    name: str
    module: str
    """The script's module name (file name without ``.py``)."""
    line: int
    doc: str | None


def _is_page_function(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
        return False
    params = [arg.arg for arg in node.args.posonlyargs + node.args.args]
    # (state, context), optionally followed by parameters with defaults
    return params[:2] == ["state", "context"] and len(params) - len(node.args.defaults) <= 2


def functions_in(source: str, module: str) -> list[FunctionInfo]:
    """The page functions defined in one script's source (raises SyntaxError)."""
    tree = ast.parse(source, filename=f"{module}.py")
    return [
        FunctionInfo(node.name, module, node.lineno, ast.get_docstring(node))
        for node in tree.body
        if _is_page_function(node) and isinstance(node, ast.FunctionDef)
    ]


def discover(page_dir: Path) -> tuple[dict[str, FunctionInfo], list[Issue]]:
    """The page's functions by name, and issues for scripts that do not parse or clash."""
    functions: dict[str, FunctionInfo] = {}
    issues: list[Issue] = []
    scripts = page_dir / SCRIPTS_DIR
    for path in sorted(scripts.glob("*.py")) if scripts.is_dir() else []:
        if path.stem == "__init__":
            continue
        file = shown(path)
        try:
            found = functions_in(path.read_text(encoding="utf-8"), path.stem)
        except SyntaxError as error:
            issues.append(Issue(file, f"line {error.lineno}", f"syntax error: {error.msg}"))
            continue
        for info in found:
            if info.name in functions:
                other = functions[info.name]
                issues.append(
                    Issue(file, f"line {info.line}", f"function {info.name!r} is also defined in {other.module}.py")
                )
            else:
                functions[info.name] = info
    return functions, issues
