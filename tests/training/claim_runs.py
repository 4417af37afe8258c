"""The settings behind the suite's learning claims, in one place: the tests run them at seed 0 and assert bounds;
``bench/learning_claims.py`` runs the same functions over seeds, CPU kinds and deliberately broken variants and
prints every asserted quantity, which is how the bounds were chosen (docs/RESULTS.md, "Learning claims").

Each function takes the folders (``out``: where its runs go, ``artifacts``: the tiny models), the seed, and extra
Hydra overrides (the broken variants: a learning rate of 0, a reward zeroed), and returns plain numbers.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from reasoning_irl.composition import compose
from reasoning_irl.evaluation.policy_eval import run_evaluate
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft

HABIT_UPDATES = 10
FULL_SET_AIRL_STEPS = 30
BACKBONE_STEPS = 1500  # demo_reward_base's own
WEAK_STEP = 700  # the backbone checkpoint kept as a weaker policy of the same size


def _common(out: Path, artifacts: Path, seed: int) -> list[str]:
    return [f"output_root={out}", f"artifacts_dir={artifacts}", f"seed={seed}"]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line.strip()]


def reward_base(out: Path, artifacts: Path, seed: int = 0) -> Path:
    """The demo's reward backbone (demo_reward_base: the small tiny preset SFT'd 1500 steps on the expert traces),
    with its step-700 checkpoint kept as a weaker policy of the same size. A shorter one (1000 steps, step 500 kept)
    fails the claims on seed 0: reranking gain 0.039, habit before 0.29 (docs/RESULTS.md)."""
    args = [f"training.max_steps={BACKBONE_STEPS}", f"training.save_steps={WEAK_STEP}"]
    return run_sft(compose("sft", ["experiment=demo_reward_base", *_common(out, artifacts, seed), *args]))


def rerank(out: Path, artifacts: Path, base: Path, seed: int = 0, overrides: tuple[str, ...] = ()) -> dict:
    """AIRL (demo_airl's structured discriminator) for 20 updates of 8 rows from the backbone's step-700 checkpoint;
    then 8 samples for each of 200 held-out problems, reranked by the learned reward."""
    common = _common(out, artifacts, seed)
    policy = base / f"checkpoint-{WEAK_STEP}"
    run_dir = run_airl(
        compose(
            "airl",
            [
                "experiment=demo_airl",
                *common,
                "training.max_steps=20",
                "training.save_steps=20",
                "training.per_device_batch_size=8",
                f"model.name_or_path={policy}",
                f"reward_model.name_or_path={base}/final",
                *overrides,
            ],
        )
    )
    eval_dir = run_evaluate(
        compose(
            "evaluate",
            [
                *common,
                f"policy={policy}",
                f"reward_model_path={run_dir}/reward_model",
                "num_problems=200",
                "sampling.num_samples=8",
                "sampling.max_new_tokens=48",
                "ks=[1,8]",
                "progress=false",
                f"output_dir={out}/eval-{run_dir.name}",
            ],
        )
    )
    metrics = json.loads((Path(eval_dir) / "eval_summary.json").read_text())["metrics"]
    value = {k: (v["value"] if isinstance(v, dict) else v) for k, v in metrics.items()}
    return {
        "pass@1": value["pass@1"],
        "random@1|8": value["random@1|8"],
        "rerank@1|8": value["success@1|8/mean"],
        "rerank@1|8 lower": metrics["success@1|8/mean"]["ci"][0],
        "rerank gain": value["success@1|8/mean"] - value["random@1|8"],
    }


def habit_base(out: Path, artifacts: Path, base: Path, seed: int = 0) -> Path:
    """The backbone taught by 120 SFT steps on targets of which 60% skip the last step (demo_habit)."""
    run = run_sft(
        compose(
            "sft",
            [
                "experiment=demo_habit",
                *_common(out, artifacts, seed),
                f"model.name_or_path={base}/final",
                "training.max_steps=120",
                "dataset.habit=skip_last_step",
                "dataset.habit_rate=0.6",
            ],
        )
    )
    return run / "final"


def habit_curve(
    method: str, out: Path, artifacts: Path, habit: Path, base: Path, seed: int = 0, overrides: tuple[str, ...] = ()
) -> dict:
    """10 policy updates of GRPO (the verifiable reward) or AIRL (the learned dense reward) from the habit base; the
    held-out curve (32 validation problems, 4 samples each at T = 1) before and after, from metrics.jsonl."""
    curve = [f"training.max_steps={HABIT_UPDATES}", f"training.eval_steps={HABIT_UPDATES}", "training.eval_problems=32"]
    args = [f"experiment=demo_{method}", *_common(out, artifacts, seed), f"model.name_or_path={habit}"]
    if method == "airl":
        args.append(f"reward_model.name_or_path={base}/final")
    args += ["training.learning_rate=1e-3", *curve, *overrides]
    run_dir = (run_airl if method == "airl" else run_grpo)(compose(method, args))
    rows = [r for r in _rows(run_dir) if "held_out/pass@1" in r]
    first, last = rows[0], rows[-1]
    return {
        "steps": [first["step"], last["step"]],
        "habit before": first["held_out/habit/skip_last_step"],
        "habit after": last["held_out/habit/skip_last_step"],
        "pass@1 before": first["held_out/pass@1"],
        "pass@1 after": last["held_out/pass@1"],
        "pass@1 gain": last["held_out/pass@1"] - first["held_out/pass@1"],
    }


def full_set(out: Path, artifacts: Path, base: Path, seed: int = 0, overrides: tuple[str, ...] = ()) -> dict:
    """AIRL on the full synthetic training set with a plain classifier discriminator (a fresh scalar head on the
    reward backbone ``base``, the one the other claims share), the policy that same backbone, 30 steps;
    separation measured by evaluate_irl on 60 test problems (240 perturbed copies)."""
    common = _common(out, artifacts, seed)
    run_dir = run_airl(
        compose(
            "airl",
            [
                "experiment=demo_airl",
                *common,
                f"training.max_steps={FULL_SET_AIRL_STEPS}",
                f"training.save_steps={FULL_SET_AIRL_STEPS}",
                f"model.name_or_path={base}/final",
                f"reward_model.name_or_path={base}/final",
                "training.per_device_batch_size=8",
                "training.logging_steps=1",
                "method.disc_extra_experts=31",
                # The plain classifier: with the structured one (demo_airl's), log pi already marks the perturbed
                # copies, so f separates them less (docs/RESULTS.md).
                "method.structured_discriminator=false",
                "method.reward_lm_prior=false",
                "method.disc_learning_rate=2e-3",
                *overrides,
            ],
        )
    )
    diag_dir = run_evaluate_irl(
        compose(
            "evaluate_irl",
            [
                *common,
                f"reward_model_path={run_dir}/reward_model",
                "num_problems=60",  # the dataset: the run's config.yaml
                f"output_dir={out}/eval_irl-{run_dir.name}",
            ],
        )
    )
    diag = json.loads((Path(diag_dir) / "irl_diagnostics.json").read_text())
    gaps = [r["disc/score_expert"] - r["disc/score_perturbed"] for r in _rows(run_dir) if "disc/loss" in r]
    return {
        "n_perturbed": diag["n_perturbed"],
        "pairwise": diag["pairwise_accuracy"]["value"],
        "pairwise lower": diag["pairwise_accuracy"]["ci"][0],
        "localization": diag["localization"]["value"],
        "localization chance": diag["localization"]["chance"],
        "logged steps": len(gaps),
        "gap early": statistics.mean(gaps[:3]),
        "gap late": statistics.mean(gaps[-10:]),
    }


TINY_SEPARATION_STEPS = 20


def tiny_separation_config(out: Path, artifacts: Path, seed: int = 0, overrides: tuple[str, ...] = ()):
    """The tiny AIRL preset for 20 steps with short policy samples. A random ~100k-parameter discriminator separates
    experts from perturbed copies within a test-sized run only by memorising the experts, so it trains on 2
    problems (the preset uses the full set)."""
    return compose(
        "airl",
        [
            "experiment=tiny_airl",
            *_common(out, artifacts, seed),
            f"training.max_steps={TINY_SEPARATION_STEPS}",
            f"training.save_steps={TINY_SEPARATION_STEPS}",
            "sampling.max_completion_length=16",
            "dataset.num_train=2",
            "dataset.validation_size=0",
            *overrides,
        ],
    )


def tiny_separation(run_dir: Path) -> dict:
    """The discriminator's logged separation over the last 10 steps (scores taken before each step's updates:
    fresh perturbations, not rows just fitted) against its first 3."""
    rows = [r for r in _rows(run_dir) if "disc/score_expert" in r]
    gaps = [r["disc/score_expert"] - r["disc/score_perturbed"] for r in rows]
    return {
        "steps": len(rows),
        "gap early": statistics.mean(gaps[:3]),
        "gap late": statistics.mean(gaps[-10:]),
        "accuracy perturbed": statistics.mean(r["disc/accuracy_perturbed"] for r in rows[-10:]),
        "accuracy expert": statistics.mean(r["disc/accuracy_expert"] for r in rows[-10:]),
    }


def tiny_sft_config(out: Path, artifacts: Path, seed: int = 0, overrides: tuple[str, ...] = ()):
    """The tiny SFT preset for 20 steps at a high learning rate, logging every 5, checkpoints every 10."""
    from tiny_runs import SFT_SMALL  # beside this file: the tests' small settings

    return compose(
        "sft",
        [
            "experiment=tiny_sft",
            *_common(out, artifacts, seed),
            *SFT_SMALL,
            "training.max_steps=20",
            "training.learning_rate=1e-2",
            "training.logging_steps=5",
            "training.save_steps=10",
            *overrides,
        ],
    )


def sft_losses(run_dir: Path) -> dict:
    losses = [r["loss"] for r in _rows(run_dir) if "loss" in r and "train_runtime" not in r]
    return {"logged": len(losses), "loss first": losses[0], "loss last": losses[-1], "ratio": losses[-1] / losses[0]}
