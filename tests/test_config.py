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


# (script's config, overrides a job refuses) for the print-only check; each composes, so only validation catches it
PRINTED_BAD = {
    "bad-value": ("grpo", ["experiment=tiny_grpo", "training.learning_rate=-1"]),
    "unregistered-name": ("airl", ["experiment=tiny_airl", "method.disc_loss=pairwise_margin"]),
    "other-method-preset": ("grpo", ["experiment=tiny_sft"]),
    "dataset-section": ("sft", ["experiment=tiny_sft", "dataset.habit=nope"]),
    "evaluation": ("evaluate", ["sampling.top_p=2"]),
}


def _refusal(config_name: str, argv: list[str], capsys) -> str:
    from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides

    with pytest.raises(SystemExit) as exited:
        check_overrides(config_name, argv)
    assert exited.value.code == CONFIG_ERROR_EXIT
    return capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(PRINTED_BAD))
@pytest.mark.parametrize("print_flag", [["--cfg", "job"], ["-c", "job"]])
def test_printing_the_config_refuses_what_a_run_refuses_in_the_same_line(case, print_flag, tmp_path, capsys):
    config_name, overrides = PRINTED_BAD[case]
    argv = [*overrides, f"output_root={tmp_path}"]
    printed = _refusal(config_name, [*argv, *print_flag], capsys)
    assert printed.startswith("error: ") and printed.count("\n") == 1
    assert printed == _refusal(config_name, argv, capsys)
    assert not any(tmp_path.iterdir())


def test_printing_a_good_config_checks_it_and_writes_or_claims_nothing(tmp_path):
    from reasoning_irl.cli import check_overrides

    check_overrides("grpo", ["experiment=tiny_grpo", f"output_root={tmp_path}", "--cfg", "job"])
    assert not any(tmp_path.iterdir())
