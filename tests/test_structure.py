"""The structure check (`scripts/check_structure.py`, run by `make check` and CI) finds what it
is there to find: a cycle through a deferred import, none through a task body's import."""

import ast
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_structure.py"
spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
check_structure = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_structure)


def test_cycles_are_components_of_two_or_more():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert check_structure.cycles(graph) == [["a", "b", "c"]]
    assert check_structure.cycles({"a": {"b"}, "b": set()}) == []


def test_deferred_imports_count_and_type_checking_ones_do_not():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import ordering.models\n"
        "if TYPE_CHECKING:\n"
        "    from kiosk import models\n"
        "def later():\n"
        "    from ecard_integration import services\n"
    )
    found = {
        (node.names[0].name if isinstance(node, ast.Import) else node.module, deferred)
        for node, deferred in check_structure._imports(tree)
    }
    assert found == {("typing", False), ("ordering.models", False), ("ecard_integration", True)}


def test_a_package_may_re_export_its_submodules(tmp_path):
    """`pkg/__init__` importing `pkg.a`, and `pkg.a` importing its sibling `pkg.b`: no cycle; but
    `pkg.a` importing a name from `pkg` itself is one."""
    init, a, b = tmp_path / "__init__.py", tmp_path / "a.py", tmp_path / "b.py"
    init.write_text("from pkg.a import thing\n")
    a.write_text("from pkg.b import other\nthing = other\n")
    b.write_text("other = 1\n")
    modules = {"pkg": init, "pkg.a": a, "pkg.b": b}
    graph = {
        name: check_structure.imports_of(name, path, modules) for name, path in modules.items()
    }
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert check_structure.cycles(graph) == []

    a.write_text("from pkg import thing\n")
    graph["pkg.a"] = check_structure.imports_of("pkg.a", a, modules)
    assert check_structure.cycles(graph) == [["pkg", "pkg.a"]]
