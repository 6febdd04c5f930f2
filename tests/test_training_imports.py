"""No import circle among the training modules, counting the imports inside functions too."""

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parent.parent / "training"


def import_graph() -> dict[str, set[str]]:
    """Module -> the training modules it imports anywhere in its file (top level or lazily)."""
    modules = {f"training.{p.stem}": p for p in TRAINING.glob("*.py") if p.stem != "__init__"}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # "from training import metrics" names a module too
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (an import circle)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_training_has_no_import_circle():
    graph = import_graph()
    assert "training.evaluate" in graph["training.export"]  # export uses the evaluation ...
    assert "training.export" not in graph["training.evaluate"]  # ... and not the other way
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


if __name__ == "__main__":  # python tests/test_training_imports.py: print the graph
    g = import_graph()
    for module in sorted(g):
        print(module, "->", ", ".join(sorted(g[module])) or "-")
    print("cycles:", cycles(g) or "none")
