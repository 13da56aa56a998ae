"""Structure checks run by `make check`: no import cycle between our modules, no oversized module.

Import cycles: every import is an edge, at module level or deferred inside a function (a deferred
import that closes a cycle hides it, it does not remove it), except `if TYPE_CHECKING:` imports and
the deferred imports of a `tasks.py` (a Celery task importing its service inside its body, the
HackSoft styleguide's way: the task module itself stays free of our imports) or an `apps.py`
(`ready()` runs after every app is loaded). Importing `a.b.c` also imports the packages `a` and
`a.b`, unless they are packages of the importing module itself (a package's `__init__` may
re-export its submodules). A cycle is a strongly connected component of more than one module.

Size: a module of ecard_integration, ordering or kiosk over MAX_LINES lines must say why in its
first lines, with a comment containing "over 400 lines".
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "ecard_integration", "ecard_sandbox", "kiosk", "ordering")
SIZED_APPS = ("ecard_integration", "kiosk", "ordering")
MAX_LINES = 400
SIZE_REASON = "over 400 lines"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


DEFERRAL_ALLOWED_IN = ("tasks.py", "apps.py")


def _imports(node: ast.AST, *, deferred: bool = False):
    """(import statement, whether it runs only when a function is called), TYPE_CHECKING aside."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, deferred
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other, deferred=deferred)
        else:
            inside = deferred or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from _imports(child, deferred=inside)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    own_packages = set(_with_parents(name)[:-1])
    targets: set[str] = set()
    for node, deferred in _imports(tree):
        if deferred and path.name in DEFERRAL_ALLOWED_IN:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for imported in names:
            *parents, target = _with_parents(imported)
            if target in modules:
                targets.add(target)
            # The packages above the imported module are imported first, except those above this
            # module: they are already in sys.modules (a package's own submodules may import
            # each other while its `__init__` re-exports them).
            targets.update(m for m in parents if m in modules and m not in own_packages)
    targets.discard(name)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, those of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def oversized(modules: dict[str, Path]) -> list[str]:
    problems = []
    for name, path in sorted(modules.items()):
        if not name.startswith(SIZED_APPS) or ".management." in name:
            continue
        lines = path.read_text().splitlines()
        head = "\n".join(lines[:30]).lower()
        if len(lines) > MAX_LINES and SIZE_REASON not in head:
            problems.append(f"{path.relative_to(ROOT)}: {len(lines)} lines, no reason at its top")
    return problems


def main() -> int:
    modules = our_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    failed = False
    for component in cycles(graph):
        failed = True
        print("import cycle:", " <-> ".join(component))
        for name in component:
            inside = sorted(graph[name] & set(component))
            print(f"  {name} imports {', '.join(inside)}")
    for problem in oversized(modules):
        failed = True
        print("module too long:", problem)
    if not failed:
        print(
            f"structure: {len(modules)} modules, no import cycle, none over {MAX_LINES} lines without a reason"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
