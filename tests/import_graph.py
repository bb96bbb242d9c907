"""The import graph of src/polymodal, read with `ast` (imports inside functions included), and
the layers it must respect. Run it to print the figures: `python tests/import_graph.py`.

A module may import its own layer and the layers below it, never one above; no two modules
may import each other, directly or around a cycle. docs/architecture.md draws the same
layers (a test checks that both list them alike)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "polymodal"

# Lowest first: (layer, the top-level modules and packages of polymodal in it). "" is the
# package itself (polymodal/__init__.py: the lazy public names).
LAYERS = [
    ("core", ["core"]),
    ("native", ["native"]),
    ("modalities", ["modalities"]),
    ("processors", ["processors"]),
    ("speech", ["speech"]),
    ("hf", ["hf"]),
    ("data", ["data"]),
    ("blocks", ["layers", "heads", "encoders", "fusion"]),
    ("models", ["models"]),
    ("engines", ["engines"]),
    ("loading", ["loading"]),
    ("tasks", ["tasks"]),
    ("inference", ["inference"]),
    ("training", ["training"]),
    ("systems", ["systems"]),
    ("experiments", ["experiments"]),
    ("server", ["server"]),
    ("cli", ["cli"]),
    ("api", ["api", "__main__", ""]),
]


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name (without "polymodal.") -> (file, is a package's __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def imported(node: ast.AST, name: str, is_package: bool, known: dict) -> list[str]:
    """The polymodal modules an import statement of module `name` imports."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        if node.level:
            base = name.split(".") if name else []
            base = base if is_package else base[:-1]
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = (node.module or "").removeprefix("polymodal").lstrip(".") if \
                (node.module or "").startswith("polymodal") else None
            if source is None:
                return []
        return [f"{source}.{a.name}".lstrip(".") if f"{source}.{a.name}".lstrip(".") in known else source
                for a in node.names]
    out = []
    for target in targets:
        if target == "polymodal" or target.startswith("polymodal."):
            out.append(target.removeprefix("polymodal").lstrip("."))
    return out


def graph() -> dict[str, set[str]]:
    """module -> the polymodal modules it imports (anywhere in the file)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, (path, is_package) in known.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported(node, name, is_package, known):
                    while target not in known and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target != name and target in known:
                        deps.add(target)
        edges[name] = deps
    return edges


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, (_, members) in enumerate(LAYERS):
        if top in members:
            return i
    raise KeyError(f"polymodal.{module} is in no layer: add its top-level name to LAYERS")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for v in edges:
        if v not in index:
            visit(v)
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer into a higher one."""
    return [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
            for a, deps in sorted(edges.items()) for b in sorted(deps) if layer_of(b) > layer_of(a)]


def longest_chain(edges: dict[str, set[str]]) -> list[str]:
    """The longest path of imports (the graph has no cycle)."""
    best: dict[str, list[str]] = {}

    def chain(v):
        if v not in best:
            best[v] = [v] + max((chain(w) for w in edges[v]), key=len, default=[])
        return best[v]
    return max((chain(v) for v in edges), key=len)


if __name__ == "__main__":
    edges = graph()
    packages = sum(is_package for _, is_package in modules().values())
    chain = longest_chain(edges)
    print(f"{len(edges)} modules in {packages} packages, {sum(map(len, edges.values()))} import edges, "
          f"{len(cycles(edges))} cycles, {len(upward(edges))} upward imports")
    print(f"longest import chain: {len(chain)} modules: " + " -> ".join(m or "polymodal" for m in chain))
