"""The house rules of the package layout, checked on the source (the layer contracts themselves are
import-linter's, run by ``make lint``): facades only re-export, imports name the defining module,
no module reaches into another's private names, and there is no import cycle, lazy imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "opsnb"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _imports(path: Path):
    """(line, imported module, [names]) for every opsnb import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, None, [a.name for a in node.names]
            elif node.module and (node.module == "opsnb" or node.module.startswith("opsnb.")):
                yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("opsnb"):
                    yield node.lineno, a.name, []


def _targets(module: str, names: list[str]) -> list[str]:
    """The modules an import statement loads: submodules by name, else the module itself."""
    out = []
    for n in names:
        sub = f"{module}.{n}"
        out.append(sub if sub in MODULES else module)
    return out or [module]


def test_facades_define_nothing_and_only_re_export():
    for name in PACKAGES - {"opsnb"}:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        for node in tree.body:
            ok = (
                isinstance(node, ast.ImportFrom)
                or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                or (isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"])
            )
            assert ok, (
                f"{name}/__init__.py line {node.lineno}: a facade only imports and lists __all__"
            )


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_imports_name_the_defining_module_never_a_facade_or_a_private_name(module):
    for line, target, names in _imports(MODULES[module]):
        where = f"{MODULES[module].relative_to(PKG.parent)}:{line}"
        assert target is not None, f"{where}: use absolute imports (from opsnb.x.y import ...)"
        if module in PACKAGES:  # a facade re-exports its own modules
            continue
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, (
            f"{where}: imports private {private} from {target}: make it public or move it"
        )
        if target in PACKAGES:
            facade_names = [
                n for n in names if f"{target}.{n}" not in MODULES and n != "__version__"
            ]
            assert not facade_names, (
                f"{where}: {facade_names} imported through the facade {target}; "
                "import them from the module that defines them"
            )


def test_no_import_cycle_even_through_lazy_imports():
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        if module in PACKAGES:
            continue  # facades are never imported inside opsnb (checked above)
        deps = set()
        for _, target, names in _imports(path):
            deps.update(t for t in _targets(target, names) if t in MODULES and t not in PACKAGES)
        graph[module] = deps - {module}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if not state.get(d):
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m)


def test_every_module_has_a_docstring_and_all():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{module} needs a module docstring"
        if module in PACKAGES and module != "opsnb":
            continue
        names = [
            t.id
            for n in tree.body
            if isinstance(n, (ast.Assign, ast.AnnAssign))
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Name)
        ]
        assert "__all__" in names, f"{module} needs an explicit __all__"


def test_each_facade_re_exports_exactly_its_modules_public_names():
    """A name added to a module's __all__ is reachable from the package, and nothing else is."""
    for name in PACKAGES - {"opsnb"}:
        pkg = MODULES[name].parent
        want: set[str] = set()
        for mod in sorted(pkg.glob("*.py")):
            if mod.name != "__init__.py":
                want |= set(_all_of(mod))
        have = set(_all_of(MODULES[name]))
        assert have == want, f"{name}: missing {sorted(want - have)}, extra {sorted(have - want)}"


def _all_of(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(getattr(t, "id", None) == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return []


def test_every_name_a_facade_lists_is_importable_from_it():
    import importlib

    for name in sorted(PACKAGES - {"opsnb"}):
        pkg = importlib.import_module(name)
        absent = [n for n in pkg.__all__ if not hasattr(pkg, n)]
        assert not absent, f"{name}.__all__ lists {absent} but does not import them"


def test_the_readme_tree_names_every_module():
    import re

    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## What is where")
    tree = readme[start : readme.index("```", readme.index("```", start) + 3)]
    named = set(re.findall(r"([a-z0-9_]+\.py)", tree))
    modules = {p.name for p in PKG.rglob("*.py") if p.name != "__init__.py"}
    assert modules <= named, f"README 'What is where' lacks {sorted(modules - named)}"
