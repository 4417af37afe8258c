"""Write the keyword names vLLM accepts, read from a vLLM wheel's source without importing it (vLLM needs CUDA).

tests/models/test_vllm_keywords.py checks the keywords the project and TRL pass to vLLM against the JSON this
writes. It records, for the wheel's version:

- ``SamplingParams``: its public fields (a msgspec Struct: the constructor takes its fields as keywords; the fields
  with a leading underscore are vLLM's own state, filled in after construction);
- ``LLM.__init__``: its named parameters; the rest go through ``**kwargs`` to ``EngineArgs``;
- ``EngineArgs``: its dataclass fields (those ``__init__`` takes);
- ``LoRARequest``: its fields in order (positional arguments map onto them in that order);
- ``LoRAConfig.max_lora_rank``: the values its ``Literal`` annotation allows, and its default.

A new vLLM pin (constraints/gpu.txt) needs a new file; the test refuses a JSON whose version differs from the pin:

    pip download --no-deps --only-binary=:all: --dest wheels vllm==X.Y.Z
    python tests/models/pinned/extract_vllm_signatures.py wheels/vllm-X.Y.Z-*.whl
    git rm tests/models/pinned/vllm-<old>.json   # the test reads the one file matching the pin

The script stops with a message where a class or field it reads has moved; update it to the new layout then.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = {
    "sampling_params": "vllm/sampling_params.py",
    "llm": "vllm/entrypoints/llm.py",
    "engine_args": "vllm/engine/arg_utils.py",
    "lora_request": "vllm/lora/request.py",
    "lora_config": "vllm/config/lora.py",
}


def find_class(tree: ast.Module, name: str, where: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise SystemExit(f"{where}: no top-level class {name}")


def _is_classvar(annotation: ast.expr) -> bool:
    target = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return ast.unparse(target).split(".")[-1] == "ClassVar"


def _init_false(value: ast.expr | None) -> bool:
    """``field(init=False)``: a dataclass field the constructor does not take."""
    if not isinstance(value, ast.Call) or ast.unparse(value.func).split(".")[-1] != "field":
        return False
    return any(k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False for k in value.keywords)


def class_fields(cls: ast.ClassDef) -> list[str]:
    """The annotated names of a dataclass / msgspec Struct body, in order (ClassVar and init=False left out)."""
    return [
        node.target.id
        for node in cls.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and not _is_classvar(node.annotation)
        and not _init_false(node.value)
    ]


def init_parameters(cls: ast.ClassDef, where: str) -> tuple[list[str], str | None]:
    """``__init__``'s parameter names (less self) and the name of its ``**kwargs``, if any."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)][1:]
            return names, args.kwarg.arg if args.kwarg else None
    raise SystemExit(f"{where}: {cls.name} has no __init__")


def literal_values(tree: ast.Module, alias: str, where: str) -> list:
    """The values of a module-level ``alias = Literal[...]``."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == alias for t in node.targets):
            value = node.value
            if isinstance(value, ast.Subscript) and ast.unparse(value.value).split(".")[-1] == "Literal":
                items = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
                return [ast.literal_eval(item) for item in items]
    raise SystemExit(f"{where}: no module-level {alias} = Literal[...]")


def max_lora_rank(tree: ast.Module, where: str) -> dict:
    cls = find_class(tree, "LoRAConfig", where)
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "max_lora_rank":
            annotation = node.annotation
            if isinstance(annotation, ast.Subscript):  # written inline: Literal[1, 8, ...]
                items = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
                allowed = [ast.literal_eval(item) for item in items]
            else:  # through an alias: MaxLoRARanks = Literal[...]
                allowed = literal_values(tree, ast.unparse(annotation), where)
            return {"allowed": allowed, "default": ast.literal_eval(node.value) if node.value else None}
    raise SystemExit(f"{where}: LoRAConfig has no max_lora_rank field")


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def extract(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        version = HeaderParser().parsestr(archive.read(metadata).decode())["Version"]
        trees = {key: ast.parse(archive.read(path).decode(), path) for key, path in SOURCES.items()}
    sampling = find_class(trees["sampling_params"], "SamplingParams", SOURCES["sampling_params"])
    llm_params, llm_kwargs = init_parameters(find_class(trees["llm"], "LLM", SOURCES["llm"]), SOURCES["llm"])
    engine = find_class(trees["engine_args"], "EngineArgs", SOURCES["engine_args"])
    if engine.bases:  # its fields would then include a base's, which this script does not read
        raise SystemExit(f"{SOURCES['engine_args']}: EngineArgs now has bases {[ast.unparse(b) for b in engine.bases]}")
    lora_request = find_class(trees["lora_request"], "LoRARequest", SOURCES["lora_request"])
    return {
        "vllm": version,
        "wheel": wheel.name,
        "wheel_sha256": sha256(wheel),
        "sources": SOURCES,
        "SamplingParams": [name for name in class_fields(sampling) if not name.startswith("_")],
        "LLM.__init__": llm_params,
        "LLM.__init__.var_keyword": llm_kwargs,
        "EngineArgs": class_fields(engine),
        "LoRARequest": class_fields(lora_request),
        "LoRAConfig.max_lora_rank": max_lora_rank(trees["lora_config"], SOURCES["lora_config"]),
    }


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    signatures = extract(Path(argv[0]))
    out = HERE / f"vllm-{signatures['vllm']}.json"
    out.write_text(json.dumps(signatures, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
