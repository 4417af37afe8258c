"""The package's layers, read from the source: every import of a package module, at module level or inside a
function, must point down (or sideways within its own layer); training and evaluation never import each other.

    config, registry, runs, folder_lock  <  data  <  rewards  <  models  <  training | evaluation  <  cli
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = "reasoning_irl"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# The layer of each top-level part of the package; a lower number may never import a higher one.
LAYERS = {
    "": 0,
    "config": 0,
    "registry": 0,
    "runs": 0,
    "folder_lock": 0,
    "data": 1,
    "rewards": 2,
    "models": 3,
    "training": 4,
    "evaluation": 4,
    "cli": 5,
    "composition": 5,
    "score": 5,
}
SIBLINGS = {"training", "evaluation"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every ``import`` / ``from ... import`` of the package in a file, wherever it stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
    return [(m, line) for m, line in found if m == PACKAGE or m.startswith(PACKAGE + ".")]


def part(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the package itself); a ``__main__``
    (``python -m reasoning_irl.<part>``) is an entry point, on the cli layer."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> list[tuple[str, str, int]]:
    return [
        (module_name(path), target, line)
        for path in sorted(SRC.rglob("*.py"))
        for target, line in imported_modules(path)
    ]


def test_every_part_of_the_package_has_a_layer():
    parts = {part(module_name(p)) for p in SRC.rglob("*.py")}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def test_training_and_evaluation_never_import_each_other():
    crossing = [f"{src}:{line} -> {dst}" for src, dst, line in import_graph() if {part(src), part(dst)} == SIBLINGS]
    assert not crossing, "\n".join(crossing)


def test_no_import_points_up():
    upward = [f"{src}:{line} -> {dst}" for src, dst, line in import_graph() if LAYERS[part(dst)] > LAYERS[part(src)]]
    assert not upward, "\n".join(upward)


def is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def hidden_imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every string in a file, docstrings aside, that is exactly the dotted name of a package
    module: what ``importlib.import_module`` would import out of the graph's sight."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and re.fullmatch(rf"{PACKAGE}(\.\w+)+", node.value)
        and is_module(node.value)
    ]


def test_no_module_of_another_part_is_named_in_a_string():
    """A module imported by its name as a string (``importlib``) is an edge the layer checks cannot see: import it
    with an import statement (inside a function where it is heavy). A package may load its own modules so."""
    hidden = [
        f"{module_name(path)}:{line} -> {target}"
        for path in sorted(SRC.rglob("*.py"))
        for target, line in hidden_imports(path)
        if part(target) != part(module_name(path))
    ]
    assert not hidden, "\n".join(hidden)


def test_the_graph_sees_every_primary_config_schema():
    """composition's table of primary configs imports each schema by an import statement, so the checks above see
    every edge it adds (and that training and evaluation meet only there, on the entry-script layer)."""
    from reasoning_irl.composition import PRIMARY_CONFIGS, schema_class

    imported = {target for source, target, _ in import_graph() if source == f"{PACKAGE}.composition"}
    missing = [name for name in PRIMARY_CONFIGS if schema_class(name).__module__ not in imported]
    assert not missing, f"schemas composition imports out of the graph's sight: {missing}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import reasoning_irl.training.setup\n", ["reasoning_irl.training.setup"]),
        ("def f():\n    from reasoning_irl.evaluation import metrics\n", ["reasoning_irl.evaluation"]),
        ("from .grpo import run_grpo\nimport os\n", ["reasoning_irl.training.grpo"]),
    ],
)
def test_the_graph_sees_module_and_function_level_imports(tmp_path, monkeypatch, source, expected):
    root = tmp_path / PACKAGE
    (root / "training").mkdir(parents=True)
    file = root / "training" / "mod.py"
    file.write_text(source)
    monkeypatch.setitem(globals(), "SRC", root)  # module names are read relative to SRC
    assert [m for m, _ in imported_modules(file)] == expected


def test_trl_is_imported_by_the_adapter_alone():
    """TRL behind one module (reasoning_irl.training.trl_adapter): no other file of the project (package, entry
    scripts, benchmarks, figures, runners) imports trl, at module level or inside a function, so a TRL release that
    moves its internals touches that one file."""
    root = SRC.parents[1]
    files = [*SRC.rglob("*.py"), *root.glob("*.py")]
    files += [p for folder in ("bench", "figures", "runner_scripts") for p in (root / folder).rglob("*.py")]
    importers = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(name == "trl" or name.startswith("trl.") for name in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"src/reasoning_irl/training/trl_adapter.py"}
