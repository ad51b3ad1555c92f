"""No import cycle between autosearch's modules, counting imports made inside functions and type-only ones.

The graph is the one import-linter builds (grimp). A cycle means two modules that cannot be understood, tested or
loaded apart: the shared piece belongs in a lower module both import.
"""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """One cycle of the component, as the chain of imports that closes it, and the modules it entangles."""
    first = component[0]
    for other in component[1:]:
        there = graph.find_shortest_chain(importer=first, imported=other)
        back = graph.find_shortest_chain(importer=other, imported=first)
        if there and back:
            chain = [*there, *back[1:]]
            rest = sorted(set(component) - set(chain))
            return " -> ".join(chain) + (f" (entangled with it: {', '.join(rest)})" if rest else "")
    return ", ".join(component)


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("autosearch")
    cycles = [_describe(graph, c) for c in _cycles(graph, "autosearch")]
    assert not cycles, "import cycles (move the shared piece to a lower module):\n" + "\n".join(cycles)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")  # as an import inside a function would add it
    graph.add_import(importer="pkg.d", imported="pkg.a")
    assert _cycles(graph, "pkg") == [["pkg.a", "pkg.b", "pkg.c"]]
    assert _describe(graph, ["pkg.a", "pkg.b", "pkg.c"]) == "pkg.a -> pkg.b -> pkg.c -> pkg.a"
