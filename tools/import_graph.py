"""Print the import graph of emitter_micro/ (imports inside functions included) and fail on a circle.

    python tools/import_graph.py [PACKAGE_DIR]     # exit 1 with the circle when there is one

A line per module: the modules of the package it imports, at load time and (in brackets) on first use.
"""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edges(pkg):
    """{module: {imported module: 'load' | 'use'}} for the modules of pkg (a folder)."""
    name = pkg.name
    out = {}
    for path in sorted(pkg.glob("*.py")):
        mod = path.stem
        deps = out.setdefault(mod, {})
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            when = "load" if node in tree.body else "use"
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.module:
                    targets.append(node.module.split(".")[0])
                else:
                    targets += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(name + "."):
                targets.append(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                targets += [a.name.split(".")[1] for a in node.names if a.name.startswith(name + ".")]
            for t in targets:
                if t != mod and (pkg / (t + ".py")).is_file() and deps.get(t) != "load":
                    deps[t] = when
    return out


def circle(graph):
    """A list of modules that import each other round, or None."""
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if not state.get(d):
                found = visit(d, path + [d])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if not state.get(m):
            found = visit(m, [m])
            if found:
                return found
    return None


def main(argv):
    pkg = Path(argv[1]) if len(argv) > 1 else ROOT / "emitter_micro"
    graph = edges(pkg)
    for m in sorted(graph):
        load = sorted(d for d, w in graph[m].items() if w == "load")
        use = sorted(d for d, w in graph[m].items() if w == "use")
        print("%-14s -> %s%s" % (m, " ".join(load) or "-", "  [%s]" % " ".join(use) if use else ""))
    c = circle(graph)
    if c:
        print("circle: " + " -> ".join(c), file=sys.stderr)
        return 1
    print("no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
