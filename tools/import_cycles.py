"""Cycles between the packages of ``kisa_tasks`` (issue 19: there should be
none), with the import lines that close each one.

    .venv/bin/python tools/import_cycles.py    # exits 1 while a cycle remains
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "kisa_tasks"


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "kisa_tasks" and len(parts) > 1 else None


def package_imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the ``file:line`` of each import."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(LIBRARY.rglob("*.py")):
        source = package_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                target = package_of(module)
                if target and target != source:
                    found[(source, target)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def main() -> int:
    imports = package_imports()
    found = cycles(set(imports))
    for group in found:
        print("cycle: " + ", ".join(group))
        members = set(group)
        for (a, b), lines in sorted(imports.items()):
            if a in members and b in members:
                print(f"  {a} -> {b}: {', '.join(lines[:3])}")
    if not found:
        print("no cycles between the packages of kisa_tasks")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
