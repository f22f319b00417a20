"""An import-linter contract that import-linter lacks: no module imports itself round a loop.

import-linter's own ``acyclic_siblings`` looks for loops between the children
of one package; a loop from ``novels.services`` through ``voting.services``
and back crosses two top-level packages, so it would pass. This contract
looks at every module of the listed packages at once (strongly connected
components of grimp's graph, function-local imports included) and prints
each loop it finds with the lines that make it.
"""

from __future__ import annotations

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        modules = set()
        for package in self.packages:  # type: ignore[attr-defined]
            modules |= {package, *graph.find_descendants(package)}
        edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in sorted(modules)}
        loops = []
        for component in _strongly_connected(edges):
            members = set(component)
            loops.append(
                [
                    (importer, imported, _lines(graph, importer, imported))
                    for importer in sorted(members)
                    for imported in edges[importer]
                    if imported in members
                ]
            )
        return ContractCheck(kept=not loops, warnings=None, metadata={"loops": loops})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for number, loop in enumerate(check.metadata["loops"], start=1):
            output.print_error(f"Loop {number}:")
            for importer, imported, lines in loop:
                output.indent_cursor()
                output.print_error(f"{importer} -> {imported} (l.{lines})")
            output.new_line()


def _lines(graph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(str(d["line_number"]) for d in details)


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; only components of two modules or more (a loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found
