"""The sweeps runner (runner_scripts/demo_sweeps.sh) and its report (runner_scripts/sweep_report.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runner_commands import SCRIPTS, args_of, check_composes, commands, script


def test_demo_sweeps_dry_run_trains_each_setting_per_seed_from_the_demo(tmp_path):
    done = script("demo_sweeps.sh", SEEDS="0 1", OUT_PREFIX=str(tmp_path / "demo"), DEMO_COUNTS="16 64")
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    trains = [c for c in cmds if Path(c[1]).name in ("sft_train.py", "train.py", "irl_train.py")]
    evals = [c for c in cmds if Path(c[1]).name == "evaluate.py"]
    settings = {(Path(c[1]).name, args_of(c)["run_name"].rsplit("-s", 1)[0], c[4]) for c in trains}
    assert settings == {
        ("sft_train.py", "sweep_sft_demos16", "method.num_demonstrations=16"),
        ("irl_train.py", "sweep_airl_demos16", "method.num_demonstrations=16"),
        ("sft_train.py", "sweep_sft_demos64", "method.num_demonstrations=64"),
        ("irl_train.py", "sweep_airl_demos64", "method.num_demonstrations=64"),
        ("sft_train.py", "sweep_sft_early_demos16", "method.num_demonstrations=16"),
        ("sft_train.py", "sweep_sft_early_demos64", "method.num_demonstrations=64"),
        ("sft_train.py", "sweep_sft_early", "training.max_steps=100"),  # a dry run: the curves it reads are not there
        ("sft_train.py", "sweep_sft_errors0.2", "method.expert_error_rate=0.2"),
        ("irl_train.py", "sweep_airl_errors0.2", "method.expert_error_rate=0.2"),
        ("sft_train.py", "sweep_sft_errors0.4", "method.expert_error_rate=0.4"),
        ("irl_train.py", "sweep_airl_errors0.4", "method.expert_error_rate=0.4"),
        ("sft_train.py", "sweep_sft_style_compact", "method.demonstration_style=compact"),
        ("irl_train.py", "sweep_airl_style_compact", "method.demonstration_style=compact"),
        # the demo's GRPO has beta 0.04 and its AIRL 0.2: neither is trained again at its own value
        ("irl_train.py", "sweep_airl_kl0.04", "method.beta=0.04"),
        ("train.py", "sweep_grpo_kl0.2", "method.beta=0.2"),
        ("train.py", "sweep_grpo_kl1.0", "method.beta=1.0"),
        ("irl_train.py", "sweep_airl_kl1.0", "method.beta=1.0"),
        ("train.py", "sweep_grpo_lr2e-4", "training.learning_rate=2e-4"),
        ("irl_train.py", "sweep_airl_lr2e-4", "training.learning_rate=2e-4"),
    }
    assert len(trains) == 2 * len(settings) and all(args_of(c)["training.max_steps"] == "100" for c in trains)
    for cmd in trains:
        check_composes(cmd)  # every setting is a key the method's schema accepts
    longer = [args_of(c) for c in evals if "dataset.min_steps=3" in c]
    assert len(longer) == 2 * 4 and all(a["dataset.max_steps"] == "3" for a in longer)
    assert {Path(a["policy"]).parent.name.rsplit("-s", 1)[0] for a in longer} == {
        f"demo_{m}" for m in ("habit", "sft", "grpo", "airl")
    }
    assert len(evals) == len(trains) + len(longer)
    assert Path(cmds[-1][1]).name == "sweep_report.py"


def test_demo_sweeps_refuses_an_unknown_sweep():
    done = script("demo_sweeps.sh", SWEEPS="demos oracle")
    assert done.returncode == 2 and "unknown sweep 'oracle'" in done.stderr


def rows(correct: dict[str, list[bool]], habit: bool = False) -> list[dict]:
    """Evaluation rows: per problem a greedy output (the first mark) and a sample per mark."""
    out = []
    for p, marks in correct.items():
        for i, ok in enumerate([marks[0], *marks]):
            text = "<think>\n1 + 1 = 2\n</think>" if ok or habit else "<think>\n1 + 1 = 3\n</think>"
            flags = {"habit/skip_last_step": not ok and habit}
            out.append({"problem_id": p, "greedy": i == 0, "correct": ok, "completion": text, "flags": flags})
    return out


RIGHT = rows({"a": [True, True], "b": [True, True]})  # pass@1 1.0
WRONG_HALF = rows({"a": [True, False]}) + rows({"b": [False, False]}, habit=True)  # pass@1 0.25, habit 0.5


def write_evals(demo: Path, found: dict[str, list[dict]]) -> None:
    for key, got in found.items():
        (demo / "eval" / key).mkdir(parents=True)
        (demo / "eval" / key / "eval_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in got))


def test_sweep_report_hand_computed(tmp_path, capsys):
    """Two problems, a greedy output and two samples each. SFT gets every one right (pass@1 1.0); AIRL gets a: 1 of
    2 (its wrong sample has a wrong equation) and b: 0 of 2 (both show the habit): pass@1 (0.5 + 0) / 2 = 0.25, a
    quarter of its samples wrong arithmetic, half the habit; AIRL - SFT per problem -0.5 and -1.0: -0.75 [-1.0, -0.5].
    With 16 demonstrations the two swap (+0.75), so the lines cross between 16 and all 19 training problems, at the
    log-midpoint sqrt(16 * 19) = 17.4."""
    sys.path.insert(0, str(SCRIPTS))
    import sweep_report

    right, airl = RIGHT, WRONG_HALF
    demo = tmp_path / "demo-s0"
    write_evals(demo, {"base": airl, "sft": right, "grpo": airl, "airl": airl})
    swept = {"sweep_sft_demos16": airl, "sweep_airl_demos16": right, "sweep_longer_base": airl}
    swept.update(sweep_longer_sft=right, sweep_longer_grpo=airl, sweep_longer_airl=right, sweep_sft_early_demos16=right)
    write_evals(demo, swept)
    (demo / "demo_sft-s0").mkdir()
    dataset = {"name": "synthetic", "num_train": 20, "num_test": 2}
    (demo / "demo_sft-s0" / "config.yaml").write_text(json.dumps({"dataset": dataset}))
    (demo / "sweep_sft_early_demos16-s0").mkdir()
    (demo / "sweep_sft_early_demos16-s0" / "config.yaml").write_text(json.dumps({"training": {"max_steps": 20}}))
    args = [
        str(demo),
        "--sweeps",
        "demos",
        "early",
        "longer",
        "--demo-counts",
        "16",
        "--figures",
        str(tmp_path / "fig"),
    ]
    assert sweep_report.main(args) == 0
    out = capsys.readouterr().out
    for row in [
        "| 16 | SFT | 0.250 [0.000, 0.500] | -0.750 [-1.000, -0.500] | 0.250 | 0.500 |  |  |",
        # stopped early, SFT on 16 gets everything right: +0.75 over 100 updates; its own demo run was not made
        "| 16 | SFT, stopped early | 1.000 [1.000, 1.000] |  | 0.000 | 0.000 | +0.750 [+0.500, +1.000] |  |",
        "| 16 | AIRL | 1.000 [1.000, 1.000] | +0.750 [+0.500, +1.000] | 0.000 | 0.000 | +0.750 [+0.500, +1.000] "
        "| +0.000 [+0.000, +0.000] |",
        "| all (19) | SFT | 1.000 [1.000, 1.000] |  | 0.000 | 0.000 |  |  |",
        "| all (19) | SFT, stopped early | not run or failed |",
        "| all (19) | AIRL | 0.250 [0.000, 0.500] |  | 0.250 | 0.500 | -0.750 [-1.000, -0.500] |  |",
        "SFT stopped early at its best held-out update (per seed): 16: 20; all (19): –.",
        # every completion has one equation, fewer than the longer problems' 3 steps
        "| SFT | 1.000 [1.000, 1.000] | 1.000 | 1.000 | 0.000 | 0.000 | +0.750 [+0.500, +1.000] |  |",
        "| GRPO | 0.250 [0.000, 0.500] | 0.500 | 1.000 | 0.250 | 0.500 | +0.000 [+0.000, +0.000] | -0.750 [-1.000, -0.500] |",
    ]:
        assert row in out, row
    assert "the SFT and AIRL lines cross near 17.4" in out and (tmp_path / "fig" / "demos_sweep.png").is_file()
    assert (tmp_path / "fig" / "longer_sweep.png").is_file()
    assert "The demo's own runs: base pass@1 0.250 [0.000, 0.500], wrong arithmetic 0.250, habit 0.500" in out
    assert sweep_report.main([str(tmp_path / "empty")]) == 2


def test_sweep_report_takes_each_methods_own_demo_value_as_its_demo_run(tmp_path, capsys):
    """The demo's GRPO has beta 0.04 and its AIRL 0.2, so at 0.04 GRPO is its demo run (pass@1 0.25) and AIRL the
    swept run (0.25), at 0.2 GRPO the swept run (1.0) and AIRL its demo run (1.0). Changes against the demo's
    setting: AIRL at 0.04 - AIRL's demo = 0.25 - 1.0 per problem (0.5 - 1, 0 - 1) = -0.75; GRPO at 0.2 +0.75."""
    sys.path.insert(0, str(SCRIPTS))
    import sweep_report

    demo = tmp_path / "demo-s0"
    write_evals(demo, {"base": WRONG_HALF, "sft": RIGHT, "grpo": WRONG_HALF, "airl": RIGHT})
    write_evals(demo, {"sweep_airl_kl0.04": WRONG_HALF, "sweep_grpo_kl0.2": RIGHT})
    for method, beta in (("grpo", 0.04), ("airl", 0.2)):
        (demo / f"demo_{method}-s0").mkdir()
        (demo / f"demo_{method}-s0" / "config.yaml").write_text(json.dumps({"method": {"beta": beta}}))
    assert sweep_report.main([str(demo), "--sweeps", "kl", "--betas", "0.04", "0.2"]) == 0
    out = capsys.readouterr().out
    for row in [
        "| 0.04 (GRPO's demo) | GRPO | 0.250 [0.000, 0.500] |  | 0.250 | 0.500 | -0.750 [-1.000, -0.500] |  |",
        "| 0.04 (GRPO's demo) | AIRL | 0.250 [0.000, 0.500] | -0.750 [-1.000, -0.500] | 0.250 | 0.500 "
        "| -0.750 [-1.000, -0.500] | +0.000 [+0.000, +0.000] |",
        "| 0.2 (AIRL's demo) | GRPO | 1.000 [1.000, 1.000] | +0.750 [+0.500, +1.000] | 0.000 | 0.000 "
        "| +0.000 [+0.000, +0.000] |  |",
        "| 0.2 (AIRL's demo) | AIRL | 1.000 [1.000, 1.000] |  | 0.000 | 0.000 | +0.000 [+0.000, +0.000] "
        "| +0.000 [+0.000, +0.000] |",
    ]:
        assert row in out, row
