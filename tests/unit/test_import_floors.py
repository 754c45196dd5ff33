"""The floors of `media_demo`, enforced on the source: each module imports only from its own floor or below.

Lowest first:

    media_demo.signals.engine   definitions compiled into plans, the attribute engine, its parts
    media_demo.signals.ingest   tracker protocol -> canonical event, Iglu schemas, referers
    media_demo.signals.storage  SQLite: database, event log, checkpoints, definition registry
    media_demo.signals.batch    batch attribute groups: external sources read from files
    media_demo.signals.remote   a client for a remote Signals API
    media_demo.signals.http     collector, Signals API, interventions stream, over `SignalsBackend`
    the app's domain            settings, routes, definitions, accounts, articles, recommend,
                                personalise, tracking, side_state, experiments, assistant, mail (`DOMAIN`)
    media_demo.services         ingest, privacy, reader views: the newsroom's work, one job each
    media_demo (the app)        newsroom, api, offers, state, pages, components, ...
    media_demo.evaluation       tools over the whole app: the offline replay of the strategies

A module belongs to the most specific floor that names it (`media_demo.evaluation.replay`
to `media_demo.evaluation`, not to `media_demo`).

Every import statement counts, wherever it is: at the top, in a function, under
`if TYPE_CHECKING:`, in a `try`. Besides the floors: no two modules may import each
other, directly or round a longer loop, and the domain (all but the Reflex UI) never
imports `reflex`. The checker is tested on small synthetic graphs first, so a test
that cannot fail would show.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "media_demo"
# A floor is a module or package, or several side by side.
Floor = str | tuple[str, ...]
# What the services build on: plain domain modules, none of which does the newsroom's work.
DOMAIN = (
    "media_demo.settings",
    "media_demo.routes",
    "media_demo.definitions",
    "media_demo.accounts",
    "media_demo.articles",
    "media_demo.recommend",
    "media_demo.personalise",
    "media_demo.tracking",
    "media_demo.side_state",
    "media_demo.experiments",
    "media_demo.assistant",
    "media_demo.mail",
)
FLOORS: tuple[Floor, ...] = (
    "media_demo.signals.engine",
    "media_demo.signals.ingest",
    "media_demo.signals.storage",
    "media_demo.signals.batch",
    "media_demo.signals.remote",
    "media_demo.signals.http",
    DOMAIN,
    "media_demo.services",
    "media_demo",
    "media_demo.evaluation",
)
APP = FLOORS.index("media_demo")
SIGNALS = "media_demo.signals"
# The Reflex UI; everything else in the package is the domain, which never imports Reflex.
UI = ("media_demo.state", "media_demo.pages", "media_demo.components", "media_demo.media_demo")


@dataclass(frozen=True)
class Import:
    """One imported module, with where the import is (`line`) and what it said (`text`)."""

    target: str
    line: int
    text: str


Graph = Mapping[str, Sequence[Import]]


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def members(floor: Floor) -> tuple[str, ...]:
    return (floor,) if isinstance(floor, str) else floor


def floor_name(floor: Floor) -> str:
    return floor if isinstance(floor, str) else " + ".join(floor)


def floor_of(module: str, floors: Sequence[Floor] = FLOORS) -> int | None:
    """The index of the floor whose member names `module` most specifically; None outside every floor."""
    matches = [(len(m), i) for i, floor in enumerate(floors) for m in members(floor) if within(module, m)]
    return max(matches)[1] if matches else None


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, source: str, is_package: bool, known: Iterable[str] = ()) -> list[Import]:
    """Every module `module`'s source imports, found anywhere in its syntax tree.

    `from a import b` names the module `a.b` when that is one of `known`, else `a`;
    relative imports are resolved against `module`'s package.
    """
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, ast.unparse(node)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            text = ast.unparse(node)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append(Import(child if child in known else base, node.lineno, text))
    return sorted(set(found), key=lambda i: (i.line, i.target))  # one per module named by a statement


def project_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, list[Import]]:
    """Each module of `package` under `root`, with the imports of other modules of that package."""
    paths = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    graph = {}
    for module, path in paths.items():
        imports = imports_of(module, path.read_text(encoding="utf-8"), path.name == "__init__.py", paths)
        graph[module] = [i for i in imports if i.target in paths and i.target != module]
    return graph


def back_edges(graph: Graph, floors: Sequence[Floor] = FLOORS) -> list[str]:
    """Every import of a module on a higher floor than the importer's, as a readable line."""
    problems = []
    for module, imports in sorted(graph.items()):
        own = floor_of(module, floors)
        for imp in imports:
            theirs = floor_of(imp.target, floors)
            if own is not None and theirs is not None and theirs > own:
                problems.append(
                    f"{module} (floor {floor_name(floors[own])}) imports {imp.target} from the floor above "
                    f"({floor_name(floors[theirs])}), line {imp.line}: {imp.text}"
                )
    return problems


def cycles(graph: Graph) -> list[list[str]]:
    """One loop of imports per group of modules that import each other (Tarjan's strongly connected
    components), each as [a, b, ..., a]."""
    targets = {m: sorted({i.target for i in imports if i.target in graph}) for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so a deep import chain cannot hit the recursion limit
        work = [(start, iter(targets[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(targets[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in targets[node]:
                    components.append(sorted(component))

    for module in sorted(targets):
        if module not in index:
            visit(module)
    return [_loop(component, targets) for component in sorted(components)]


def _loop(component: list[str], targets: Mapping[str, list[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in targets[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no loop in {component}")  # a strongly connected component always has one


def describe_loop(loop: list[str], graph: Graph) -> str:
    steps = []
    for importer, imported in itertools.pairwise(loop):
        imp = next(i for i in graph[importer] if i.target == imported)
        steps.append(f"{importer} line {imp.line}: {imp.text}")
    return "import cycle " + " -> ".join(loop) + "\n    " + "\n    ".join(steps)


# --- the checker, on graphs small enough to check by eye --------------------------------------------------------

SYNTHETIC_FLOORS = ("pkg.low", "pkg.mid", "pkg")


def graph_of(edges: Mapping[str, Iterable[str]]) -> dict[str, list[Import]]:
    return {m: [Import(t, n + 1, f"import {t}") for n, t in enumerate(ts)] for m, ts in edges.items()}


def test_the_checker_names_an_upward_import_and_its_line() -> None:
    graph = graph_of(
        {"pkg.low.a": ["pkg.low.b", "pkg.mid.c"], "pkg.low.b": [], "pkg.mid.c": ["pkg.low.a"], "pkg.d": []}
    )
    problems = back_edges(graph, SYNTHETIC_FLOORS)
    assert problems == [
        "pkg.low.a (floor pkg.low) imports pkg.mid.c from the floor above (pkg.mid), line 2: import pkg.mid.c"
    ]


def test_the_checker_lets_a_floor_import_its_own_and_lower_floors() -> None:
    graph = graph_of({"pkg.app": ["pkg.mid.x", "pkg.low.y"], "pkg.mid.x": ["pkg.low.y", "pkg.mid.z"]})
    assert back_edges(graph, SYNTHETIC_FLOORS) == []


def test_a_package_can_be_a_floor_above_its_parent() -> None:
    floors = ("pkg.low", "pkg", "pkg.tools")
    graph = graph_of({"pkg.tools.run": ["pkg.app", "pkg.low.x"], "pkg.app": ["pkg.tools.run"], "pkg.low.x": []})
    assert floor_of("pkg.tools.run", floors) == 2 and floor_of("pkg.app", floors) == 1
    assert back_edges(graph, floors) == [
        "pkg.app (floor pkg) imports pkg.tools.run from the floor above (pkg.tools), line 1: import pkg.tools.run"
    ]


def test_a_floor_of_several_modules_side_by_side() -> None:
    floors = ("pkg.low", ("pkg.a", "pkg.b"), "pkg")
    graph = graph_of({"pkg.a": ["pkg.b", "pkg.low.x"], "pkg.b": ["pkg.app"], "pkg.app": ["pkg.a"]})
    assert back_edges(graph, floors) == [
        "pkg.b (floor pkg.a + pkg.b) imports pkg.app from the floor above (pkg), line 1: import pkg.app"
    ]


def test_the_checker_finds_cycles_short_and_long_and_nothing_else() -> None:
    graph = graph_of(
        {
            "a": ["b"],
            "b": ["c"],
            "c": ["a", "d"],  # a -> b -> c -> a
            "d": ["e"],
            "e": ["d"],  # d <-> e
            "f": ["a", "d"],  # imports into loops, but is in none
            "g": ["g"],  # itself
        }
    )
    assert cycles(graph) == [["a", "b", "c", "a"], ["d", "e", "d"], ["g", "g"]]
    assert (
        describe_loop(["d", "e", "d"], graph)
        == "import cycle d -> e -> d\n    d line 1: import e\n    e line 1: import d"
    )
    assert cycles(graph_of({"a": ["b"], "b": ["c"], "c": []})) == []


def test_imports_are_found_in_functions_under_type_checking_and_relative() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import pkg.low.a
from pkg.low import b
from . import sibling
from ..low.c import thing

if TYPE_CHECKING:
    from pkg.app import App

def late():
    import pkg.mid.hidden
    try:
        from pkg import optional
    except ImportError:
        pass
"""
    known = {"pkg.low.a", "pkg.low.b", "pkg.mid.sibling", "pkg.low.c", "pkg.app", "pkg.mid.hidden"}
    found = [i.target for i in imports_of("pkg.mid.x", source, False, known)]
    assert found == [
        "__future__",
        "typing",
        "pkg.low.a",
        "pkg.low.b",
        "pkg.mid.sibling",
        "pkg.low.c",
        "pkg.app",
        "pkg.mid.hidden",
        "pkg",
    ]


def test_a_synthetic_package_with_a_back_edge_fails_from_its_files(tmp_path: Path) -> None:
    """The same path as the real check, on files: a TYPE_CHECKING import of the app from a low floor."""
    for name, text in {
        "pkg/__init__.py": "",
        "pkg/app.py": "from pkg.low import core\n",
        "pkg/low/__init__.py": "",
        "pkg/low/core.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.app import App\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = project_graph(tmp_path, "pkg")
    assert back_edges(graph, ("pkg.low", "pkg")) == [
        "pkg.low.core (floor pkg.low) imports pkg.app from the floor above (pkg), line 3: from pkg.app import App"
    ]
    assert [describe_loop(loop, graph) for loop in cycles(graph)] == [
        "import cycle pkg.app -> pkg.low.core -> pkg.app\n"
        "    pkg.app line 1: from pkg.low import core\n"
        "    pkg.low.core line 3: from pkg.app import App"
    ]


# --- the project ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return project_graph()


def test_the_floors_are_where_they_should_be(graph: dict[str, list[Import]]) -> None:
    for floor in FLOORS:
        for member in members(floor):
            assert any(within(module, member) for module in graph), f"no module {member} (floor {floor_name(floor)})"
    # Every module of `signals` is on one of its floors (a new one cannot land in the app's by accident).
    stray = [m for m in graph if within(m, SIGNALS) and m != SIGNALS and floor_of(m) == APP]
    assert stray == [], f"modules of {SIGNALS} on none of its floors: {stray}"


def test_no_module_imports_from_a_floor_above_its_own(graph: dict[str, list[Import]]) -> None:
    problems = back_edges(graph)
    assert not problems, "imports against the floors:\n  " + "\n  ".join(problems)


def test_no_modules_import_each_other(graph: dict[str, list[Import]]) -> None:
    loops = [describe_loop(loop, graph) for loop in cycles(graph)]
    assert not loops, "\n".join(loops)


def test_the_domain_never_imports_reflex() -> None:
    problems = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        module = module_name(path, ROOT)
        if any(within(module, ui) for ui in UI):
            continue
        for imp in imports_of(module, path.read_text(encoding="utf-8"), path.name == "__init__.py"):
            if within(imp.target, "reflex"):
                problems.append(f"{module} line {imp.line}: {imp.text}")
    assert not problems, "the domain imports Reflex:\n  " + "\n  ".join(problems)
