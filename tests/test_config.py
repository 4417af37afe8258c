from dataclasses import dataclass, field

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, validate


@dataclass
class Schema:
    lr: float = 1e-5
    steps: int = 10
    names: list[str] = field(default_factory=lambda: ["a"])

    def check(self):
        if self.steps < 1:
            raise ConfigError("steps must be >= 1")


def test_validate_fills_defaults_and_types():
    cfg = validate({"steps": "7"}, Schema, "training")
    assert isinstance(cfg, Schema) and cfg.steps == 7 and cfg.lr == 1e-5 and cfg.names == ["a"]


def test_unknown_key_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"^training\.stepz: unknown key \(valid keys: lr, steps, names\)$"):
        validate({"stepz": 3}, Schema, "training")


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"^training\.steps: "):
        validate({"steps": "many"}, Schema, "training")


def test_check_hook_runs():
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        validate({"steps": 0}, Schema, "training")


def test_compose_errors_are_single_lines():
    with pytest.raises(ConfigError, match=r"^dataset\.num_trian: unknown config key$"):
        compose("data_preview", ["dataset.num_trian=3"])
    with pytest.raises(ConfigError, match=r"Could not find 'dataset/nope'; available: .*synthetic"):
        compose("data_preview", ["dataset=nope"])
