"""A saved reward model as a standard transformers / PEFT checkpoint, at the root of its folder.

Without ``lm_prior`` the reward model *is* a ``<Arch>ForTokenClassification`` with ``num_labels=1``: its base
model is our backbone and its ``score`` Linear is our head, so ``logits[..., 0]`` are the token rewards:

* full backbone: the folder is that checkpoint (``config.json`` + ``model.safetensors``);
  ``AutoModelForTokenClassification.from_pretrained(folder)`` loads it;
* LoRA: the folder is a ``TOKEN_CLS`` PEFT adapter over the backbone, the head saved as ``modules_to_save``;
  ``AutoPeftModelForTokenClassification.from_pretrained(folder, num_labels=1)`` loads it (``num_labels=1``
  because the backbone's own config declares the default 2 labels; ``base_model_name_or_path`` is the backbone
  resolved at save time: an absolute folder, or the hub id).

With ``lm_prior`` a token's reward is ``log p(token | prefix)`` under the LM head plus the scalar head, which no
transformers head class computes: the folder holds the causal LM (or a PEFT adapter over it) that plain
``AutoModelForCausalLM`` / ``AutoPeftModelForCausalLM`` loads, and the head is only in ``head.safetensors``;
:class:`reasoning_irl.models.api.RewardModel` adds the two terms. An architecture without a token-classification
class is saved the same way as ``lm_prior`` (backbone + ``head.safetensors``).

Folders written before this layout keep ``backbone/`` or ``adapter/`` subfolders; they still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

from reasoning_irl.config import ConfigError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PEFT_PREFIX = "base_model.model."


def resolve_backbone(name_or_path: str) -> str:
    """An existing local folder as an absolute path (loads from any directory); anything else (a hub id) as given."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.is_dir() else name_or_path


def token_classification_class(config: Any) -> Optional[type]:
    """The transformers ``*ForTokenClassification`` class of a backbone config, or None when it has none."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING

    try:
        return MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING[type(config)]
    except KeyError:
        return None


def _token_cls_wrapper(backbone: torch.nn.Module, head: torch.nn.Module, cls: type) -> torch.nn.Module:
    """A ``cls`` model whose base model and ``score`` are the live modules: built on the meta device so no
    second copy of the weights is allocated just to save them."""
    config = backbone.config.__class__.from_dict(backbone.config.to_dict())
    config.num_labels, config.architectures = 1, [cls.__name__]
    with torch.device("meta"):
        wrapper = cls(config)
    setattr(wrapper, cls.base_model_prefix, backbone)
    wrapper.score = head
    return wrapper


def save_standard(model: Any, out: Path) -> dict[str, Any]:
    """Write ``model``'s backbone (or adapter) into ``out`` as a standard checkpoint; returns what plain loading
    gives, for the folder's metadata: ``{"class", "peft", "includes_head", "base_model_prefix"}``."""
    base_config = model.backbone.get_base_model().config if model.lora is not None else model.backbone.config
    cls = None if model.lm_prior else token_classification_class(base_config)
    if model.lora is None:
        if cls is None:
            model.backbone.save_pretrained(out)
        else:
            _token_cls_wrapper(model.backbone, model.head, cls).save_pretrained(out)
    elif cls is None:
        model.backbone.save_pretrained(out)
        _set_base(out, resolve_backbone(model.backbone_name_or_path))
    else:
        _save_token_cls_adapter(model, cls, out)
    name = (
        cls.__name__
        if cls is not None
        else type(model.backbone.get_base_model() if model.lora else model.backbone).__name__
    )
    return {
        "class": name,
        "peft": model.lora is not None,
        "includes_head": cls is not None,
        "base_model_prefix": cls.base_model_prefix if cls is not None else None,
    }


def _save_token_cls_adapter(model: Any, cls: type, out: Path) -> None:
    """The LoRA weights renamed to the token-classification model's module paths, plus the head as ``score``."""
    from peft import LoraConfig, get_peft_model_state_dict

    ours = get_peft_model_state_dict(model.backbone)
    inner = f"{_PEFT_PREFIX}{cls.base_model_prefix}."
    state = {inner + k[len(_PEFT_PREFIX) :]: v for k, v in ours.items()}
    state.update({f"{_PEFT_PREFIX}score.{k}": v for k, v in model.head.state_dict().items()})
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in state.items()}, out / ADAPTER_WEIGHTS, metadata={"format": "pt"}
    )
    used = model.backbone.peft_config["default"]
    LoraConfig(
        task_type="TOKEN_CLS",
        r=used.r,
        lora_alpha=used.lora_alpha,
        lora_dropout=used.lora_dropout,
        target_modules=sorted(used.target_modules),
        modules_to_save=["score"],
        base_model_name_or_path=resolve_backbone(model.backbone_name_or_path),
    ).save_pretrained(out)


def _set_base(out: Path, base: str) -> None:
    path = out / ADAPTER_CONFIG
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base
    path.write_text(json.dumps(config, indent=2) + "\n")


def adapter_state(folder: Path, meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The LoRA weights in the reward model's own naming (PEFT over the bare backbone), from either layout."""
    old = folder / "adapter" / ADAPTER_WEIGHTS
    if old.is_file():
        return load_file(str(old))
    state = load_file(str(folder / ADAPTER_WEIGHTS))
    prefix = (meta.get("transformers") or {}).get("base_model_prefix")
    if not (meta.get("transformers") or {}).get("includes_head") or not prefix:
        return state
    inner = f"{_PEFT_PREFIX}{prefix}."
    return {_PEFT_PREFIX + k[len(inner) :]: v for k, v in state.items() if k.startswith(inner)}


def load_full_backbone(folder: Path, meta: dict[str, Any], auto: Any, **kw: Any) -> torch.nn.Module:
    """The full (non-LoRA) backbone of either layout, as the module :class:`TokenRewardModel` wraps."""
    if (folder / "backbone").is_dir():
        return auto.from_pretrained(str(folder / "backbone"), **kw)
    if not (meta.get("transformers") or {}).get("includes_head"):
        return auto.from_pretrained(str(folder), **kw)
    from transformers import AutoModelForTokenClassification

    # Loading the whole checkpoint (head included) avoids transformers' unexpected-key report for `score`.
    full = AutoModelForTokenClassification.from_pretrained(str(folder), **kw)
    return getattr(full, full.base_model_prefix)


def full_backbone_dir(folder: Path) -> Path:
    return folder / "backbone" if (folder / "backbone").is_dir() else folder


def check_found(folder: Path, backbone: str) -> None:
    """One line when the recorded backbone cannot be read (older folders recorded a relative path as given)."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(backbone)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{folder}: its backbone {backbone!r} cannot be loaded from here (a relative path is read "
            f"from the current directory): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
