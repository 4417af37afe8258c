"""The registry, its one spelling of registration, and the table of registered names in docs/configuration.md."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from reasoning_irl.registry import Registry, UnknownNameError, wrapped_in

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reasoning_irl"


def test_register_get_and_names():
    reg = Registry("thing")

    @reg.register("b")
    def b():
        return 2

    reg.register("a")(1)
    assert reg.get("b") is b and reg.get("a") == 1
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2


def test_unknown_name_lists_choices_and_duplicates_fail():
    reg = Registry("thing")
    reg.register("x")(1)
    with pytest.raises(UnknownNameError, match=r"unknown thing 'y'; choose one of: x"):
        reg.get("y")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(2)
    assert reg.get("x") == 1


def test_remove_unregisters_and_items_keep_registration_order():
    reg = Registry("thing")
    reg.register("b")(1)
    reg.register("a")(2)
    assert reg.items() == [("b", 1), ("a", 2)]
    assert reg.remove("b") == 1 and "b" not in reg and reg.names() == ["a"]
    with pytest.raises(UnknownNameError, match="unknown thing 'b'"):
        reg.remove("b")


def test_an_opt_in_entry_is_valid_but_not_among_the_defaults():
    reg = Registry("thing")
    reg.register("b")(2)
    reg.register("a", opt_in=True)(1)
    reg.register("c")(3)
    assert reg.get("a") == 1 and "a" in reg and reg.names() == ["a", "b", "c"]
    assert reg.registered() == ["b", "c"]
    reg.remove("a")
    reg.register("a")(4)  # registered again, no longer opt-in
    assert reg.registered() == ["b", "c", "a"]


@dataclass(frozen=True)
class Entry:
    function: object
    label: str
    weight: float = 1.0


def test_an_entry_is_built_from_the_decorated_function_and_the_fields():
    reg: Registry[Entry] = Registry("thing", entry=wrapped_in(Entry))

    @reg.register("half", label="a half", weight=0.5)
    def half(x):
        return x / 2

    assert half(4) == 2  # the decorator hands the function back unchanged
    assert reg.get("half") == Entry(half, "a half", 0.5)
    with pytest.raises(TypeError, match="label"):
        Registry("plain").register("x", label="a")


def test_there_is_one_way_to_register():
    assert not hasattr(Registry, "add")
    from reasoning_irl import data, rewards

    assert not hasattr(data, "register_dataset") and not hasattr(rewards.registry, "reward")


def _registrations_outside_decorators() -> list[str]:
    """``NAME.register(...)`` calls in the package that are not decorators: every variant is a decorated function."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        decorators = {id(d) for node in ast.walk(tree) if hasattr(node, "decorator_list") for d in node.decorator_list}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id.isupper()
                and id(node) not in decorators
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_variant_in_the_package_registers_with_a_decorator():
    assert not _registrations_outside_decorators()


# --- the table of registered names in docs/configuration.md ---


def _defined_registries() -> set[tuple[str, str]]:
    """(module, NAME) of every ``NAME = Registry(...)`` in the package."""
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Registry":
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {(module, t.id) for t in targets if isinstance(t, ast.Name)}
    return found


def _documented_registries() -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """(module, NAME) -> (listed names, names marked opt-in), from the table under "Registered names"."""
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = doc.split("## Registered names", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        row = re.match(r"\| `([A-Z_]+)` \(([\w.]+)\) \|.*\| (.*) \|$", line)
        if row:
            names_cell = row.group(3)
            names = re.findall(r"`([^`]+)`", names_cell)
            opt_in = re.findall(r"`([^`]+)` \(opt-in", names_cell)
            rows[(row.group(2), row.group(1))] = (names, opt_in)
    return rows


def test_the_docs_table_lists_every_registry():
    documented, defined = set(_documented_registries()), _defined_registries()
    assert documented == defined, (
        f"docs/configuration.md 'Registered names' lacks {sorted(defined - documented)}, "
        f"lists unknown {sorted(documented - defined)}"
    )


@pytest.mark.parametrize("module, name", sorted(_documented_registries()))
def test_the_docs_table_lists_exactly_the_registered_names(module, name):
    import reasoning_irl.data  # noqa: F401  (a dataset registers by being imported with its package)

    registry = getattr(importlib.import_module(module), name)
    listed, opt_in = _documented_registries()[(module, name)]
    missing = [n for n in registry.names() if n not in listed]
    unknown = [n for n in listed if n not in registry]
    assert not missing and not unknown, (
        f"docs/configuration.md, {name}: registered but not listed {missing}; listed but not registered {unknown}"
    )
    assert sorted(opt_in) == sorted(set(registry.names()) - set(registry.registered()))


def test_every_name_list_of_the_configuration_reference_is_registered():
    """Reference rows that spell a registry's names out ("A name in ...ADVANTAGES: grpo / prime / ...") list all
    of them and no other."""
    import reasoning_irl.data  # noqa: F401

    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    lists = re.findall(r"A name in ([\w.]+)\.([A-Z_]+): ([\w@]+(?: / [\w@]+)*)\.", doc)
    assert lists, "the reference names no registry list; update this test's pattern"
    for module, name, names in lists:
        registry = getattr(importlib.import_module(module), name)
        assert sorted(names.split(" / ")) == registry.names(), f"docs/configuration.md lists {name} as {names}"


def test_every_dataset_has_its_group_option_and_every_option_a_dataset():
    """``dataset=<name>`` selects ``configs/dataset/<name>.yaml``: a registered dataset needs one (README, "Where to
    add X")."""
    from reasoning_irl.data import DATASETS

    options = sorted(p.stem for p in (ROOT / "configs" / "dataset").glob("*.yaml"))
    assert options == DATASETS.names()
