"""The runner scripts: dry runs print commands that compose with the real presets; bad arguments fail fast."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from preset_methods import PAIRS
from runner_commands import SCRIPTS, args_of, check_composes, commands, script


@pytest.mark.parametrize("name, pair", [("paper_gsm8k.sh", "llama-3.1-8b"), ("paper_medreason.sh", "qwen2.5-7b")])
def test_paper_script_dry_run_prints_the_whole_table(name, pair):
    done = script(name, pair, "training.max_steps=10", SEEDS="0,1", LAUNCHER="slurm", EVAL_ARGS="num_problems=20")
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    entries = [Path(c[1]).name for c in cmds]
    assert entries == [
        "sft_train.py",
        "train.py",
        "irl_train.py",
        *["evaluate.py"] * 4,
        "evaluate_irl.py",
        "make_figures.py",
        "-m",
    ]
    task = name[len("paper_") : -len(".sh")]
    for cmd in cmds[:8]:
        assert {"-m", "hydra/launcher=slurm", "seed=choice(0,1)"} <= set(cmd)
        check_composes(cmd)
    assert [a for c in cmds[:3] for a in c if a.startswith("experiment=")] == [
        f"experiment={task}_{pair}_{m}" for m in ("sft", "grpo", "airl")
    ]
    assert all("training.max_steps=10" in c for c in cmds[:3]) and all("num_problems=20" in c for c in cmds[3:8])
    assert cmds[-1][-4:] == [
        "reasoning_irl.evaluation.aggregate",
        f"outputs/paper/{task}_{pair}/eval",
        "--out",
        f"outputs/paper/{task}_{pair}/table",
    ]


@pytest.mark.parametrize("args, message", [((), "missing the model pair"), (("gpt-5",), "unknown model pair 'gpt-5'")])
def test_paper_script_fails_fast_with_usage(args, message):
    done = script("paper_gsm8k.sh", *args)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.splitlines()[0] == f"error: {message}" + ("" if args == () else " for gsm8k")
    assert done.stderr.splitlines()[1].startswith("usage: runner_scripts/paper_gsm8k.sh <model pair>")
    assert "qwen2.5-3b qwen2.5-7b" in done.stderr


def test_unknown_launcher_is_refused():
    done = script("paper_gsm8k.sh", "qwen2.5-3b", LAUNCHER="pbs")
    assert done.returncode == 2 and "LAUNCHER must be local or slurm" in done.stderr


def test_single_node_dry_run_pins_and_launches_through_accelerate(tmp_path):
    done = script(
        "run_single_node.sh",
        "irl_train.py",
        "experiment=tiny_airl",
        GPUS="0,1",
        NUM_PROCESSES="2",
        THREADS="3",
        NUMA_NODE="",
        OMP_NUM_THREADS="",
        MKL_NUM_THREADS="",
    )
    assert done.returncode == 0, done.stderr
    assert "+ export CUDA_VISIBLE_DEVICES=0,1 OMP_NUM_THREADS=3 MKL_NUM_THREADS=3" in done.stdout
    (cmd,) = commands(done.stdout)
    assert cmd[1:4] == ["-m", "accelerate.commands.launch", "--config_file"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and cmd[-2:] == ["irl_train.py", "experiment=tiny_airl"]


def test_single_node_runs_pinned_with_numactl_when_present(tmp_path):
    """A real run (a tiny Python entry), under a stand-in numactl that records its arguments."""
    entry = tmp_path / "entry.py"
    entry.write_text(
        "import os, sys\nprint('ran', os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'], "
        "os.environ['CUDA_VISIBLE_DEVICES'], *sys.argv[1:])\n"
    )
    numactl = tmp_path / "numactl"
    numactl.write_text(f'#!/bin/sh\necho "$1 $2" > {tmp_path}/numactl.args\nshift 2\nexec "$@"\n')
    numactl.chmod(0o755)
    done = script(
        "run_single_node.sh",
        str(entry),
        "a=1",
        DRY_RUN="0",
        GPUS="3",
        NUMA_NODE="1",
        THREADS="5",
        NUM_PROCESSES="1",
        OMP_NUM_THREADS="",
        MKL_NUM_THREADS="",
        PATH=f"{tmp_path}:{os.environ['PATH']}",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ran 5 5 3 a=1"
    assert (tmp_path / "numactl.args").read_text().split() == ["--cpunodebind=1", "--membind=1"]


def test_single_node_without_numactl_runs_unbound_and_says_so(tmp_path):
    for tool in ("dirname", "nproc"):  # a PATH that has what the script needs, and surely no numactl
        (tmp_path / tool).symlink_to(shutil.which(tool))
    done = script("run_single_node.sh", "evaluate.py", NUMA_NODE="0", PATH=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "note: numactl not found; NUMA_NODE=0 ignored" in done.stderr
    (cmd,) = commands(done.stdout)
    assert cmd == [sys.executable, "evaluate.py"]


def test_single_node_fails_fast_without_an_entry():
    done = script("run_single_node.sh")
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: missing the entry script",
        "usage: runner_scripts/run_single_node.sh <entry script: irl_train.py | sft_train.py | train.py | "
        "evaluate.py | evaluate_irl.py> [overrides ...]",
    ]


def test_demo_ablations_dry_run_prints_one_run_per_seed_and_overlay(tmp_path):
    names = sorted(p.stem for p in (SCRIPTS.parent / "configs" / "ablation").glob("*.yaml"))
    done = script("demo_ablations.sh", SEEDS="0 1", OUT_PREFIX=str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    trains = [c for c in cmds if Path(c[1]).name == "irl_train.py"]
    evals = [c for c in cmds if Path(c[1]).name == "evaluate.py"]
    assert len(trains) == len(evals) == 2 * len(names)
    for cmd in trains + evals:
        # A folder an overlay needs is the demo's own (not made by a dry run): an existing one stands in for it.
        needs = ("method.frozen_reward_model=", "model.init_adapter=")
        cmd = [f"{c.split('=')[0]}={tmp_path}" if c.startswith(needs) else c for c in cmd]
        check_composes(cmd)
    assert Path(cmds[-1][1]).name == "demo_report.py" and cmds[-1][-len(names) :] == names
    assert done.stdout.count("bash runner_scripts/demo.sh") == 2


def test_demo_ablations_refuses_an_unknown_overlay():
    done = script("demo_ablations.sh", ABLATIONS="sparse nope")
    assert done.returncode == 2 and "unknown ablation 'nope'" in done.stderr


def test_paper_table_evaluates_with_the_seed_protocol():
    done = script("paper_gsm8k.sh", "qwen2.5-3b")
    assert done.returncode == 0, done.stderr
    evaluations = [c for c in commands(done.stdout) if Path(c[1]).name == "evaluate.py"]
    assert len(evaluations) == 4  # base, sft, grpo, airl
    for cmd in evaluations:  # the seed's configs/qwen3b/*_config_eval.yaml: N=16, ks [1,3,5,10], gsm8k_kd test
        assert {"dataset=gsm8k_kd", "split=test", "sampling.num_samples=16", "ks=[1,3,5,10]"} <= set(cmd)
        check_composes(cmd)


SEED_ABLATIONS = ("expert_errors", "frozen_disc", "sparse", "unnormalized", "continued")


def test_paper_ablations_dry_run_prints_pairs_times_ablations(tmp_path):
    # The main tables' runs the ablations start from (the continued policy, the frozen discriminators).
    for pair in PAIRS:
        for sub in ("final", "reward_model"):
            (tmp_path / f"gsm8k_{pair}" / "airl" / "seed=0" / sub).mkdir(parents=True)
    done = script("paper_ablations.sh", "training.max_steps=10", TABLES=str(tmp_path), EVAL_ARGS="num_problems=20")
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    training = [c for c in cmds if Path(c[1]).name == "irl_train.py"]
    evaluations = [c for c in cmds if Path(c[1]).name == "evaluate.py"]
    assert len(training) == len(evaluations) == len(PAIRS) * len(SEED_ABLATIONS) == len(cmds) // 2
    seen = set()
    for cmd in training:
        pair = next(a for a in cmd if a.startswith("experiment=")).split("_")[1]
        ablation = next(a for a in cmd if a.startswith("+ablation=")).split("=")[1]
        seen.add((pair, ablation))
        assert "training.max_steps=10" in cmd
        check_composes(cmd)  # the job of seed 0: its ${seed} finds the folders made above
        if ablation == "frozen_disc":
            partner = {
                "qwen2.5-3b": "qwen2.5-7b",
                "qwen2.5-7b": "qwen2.5-3b",
                "llama-3.2-3b": "llama-3.1-8b",
                "llama-3.1-8b": "llama-3.2-3b",
            }[pair]
            assert any(f"gsm8k_{partner}/airl" in a for a in cmd if a.startswith("method.frozen_reward_model="))
    assert seen == {(p, a) for p in PAIRS for a in SEED_ABLATIONS}
    for cmd in evaluations:
        assert {"dataset=gsm8k_kd", "split=test", "sampling.num_samples=16", "ks=[1,3,5,10]", "num_problems=20"} <= set(
            cmd
        )
        check_composes(cmd)


def test_paper_ablations_refuses_an_unknown_ablation():
    done = script("paper_ablations.sh", ABLATIONS="sparse nothing")
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.splitlines()[0] == "error: unknown ablation 'nothing'"


def test_demo_verifier_free_dry_run_trains_and_evaluates_each_method_per_seed(tmp_path):
    done = script("demo_verifier_free.sh", SEEDS="0 1", OUT_PREFIX=str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    trains = [c for c in cmds if Path(c[1]).name in ("train.py", "irl_train.py")]
    evals = [c for c in cmds if Path(c[1]).name == "evaluate.py"]
    presets = [f"experiment=demo_{m}" for m in ("perplexity", "prime", "relativistic", "verifree")]
    assert sorted(c[2] for c in trains) == sorted(presets * 2)
    assert len(evals) == 8
    for cmd in trains + evals:
        check_composes(cmd)
    assert Path(cmds[-1][1]).name == "demo_report.py"
    assert cmds[-1][-5:] == ["--verifier-free", "verifree", "perplexity", "relativistic", "prime"]


def test_demo_search_dry_run_guides_each_search_by_each_reward_on_the_habit_base(tmp_path):
    done = script("demo_search.sh", SEEDS="0 1", OUT_PREFIX=str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    trains = [c for c in cmds if Path(c[1]).name == "irl_train.py"]
    evals = [c for c in cmds if Path(c[1]).name == "evaluate.py"]
    rewards = ("airl", "relativistic", "prime")
    assert sorted(c[2] for c in trains) == sorted([f"experiment=demo_{r}" for r in rewards] * 2)
    assert len(evals) == 2 * 3 * 2  # seeds x rewards x search methods
    for cmd in trains + evals:
        check_composes(cmd)
    found = {(a["seed"], Path(a["reward_model_path"]).parent.name, a["search.method"]) for a in map(args_of, evals)}
    assert found == {(s, f"demo_{r}-s{s}", m) for s in ("0", "1") for r in rewards for m in ("beam", "dvts")}
    assert all(args_of(c)["policy"].endswith(f"demo_habit-s{args_of(c)['seed']}/final") for c in evals)
    diagnostics = [args_of(c) for c in cmds if Path(c[1]).name == "evaluate_irl.py"]
    for cmd in (c for c in cmds if Path(c[1]).name == "evaluate_irl.py"):
        check_composes(cmd)
    assert {(a["seed"], Path(a["reward_model_path"]).parent.name, Path(a["output_dir"]).name) for a in diagnostics} == {
        (s, f"demo_{r}-s{s}", f"{r}_diagnostics") for s in ("0", "1") for r in rewards
    }
    assert Path(cmds[-1][1]).name == "search_report.py" and len(cmds[-1]) == 4  # python, script, two demo folders


def test_demo_search_refuses_a_reward_that_needs_the_answer():
    done = script("demo_search.sh", REWARDS="airl verifree")
    assert done.returncode == 2 and "unknown reward 'verifree'" in done.stderr


def test_demo_verifier_free_refuses_an_unknown_method():
    done = script("demo_verifier_free.sh", METHODS="verifree oracle")
    assert done.returncode == 2 and "unknown method 'oracle'" in done.stderr


def test_search_report_hand_computed(tmp_path, capsys):
    """Two problems, three samples of two tokens each, a search that spent 6 tokens (so n = 3):
    a: answers 2 (right, score 0.1), 1 (wrong, 0.9), 2 (right, 0.2); b: 4 (wrong, 0.5), 3 (right, 0.8), 4 (wrong, 0.3);
    the search is right on both. best-of-3 picks a's wrong and b's right sample (0.5); the vote picks a's 2 and b's 4
    (0.5); one sample is right 2/3 and 1/3 of the time (0.5); the oracle 1.0. Search - best-of-n per problem: 1, 0."""
    sys.path.insert(0, str(SCRIPTS))
    import search_report

    folder = tmp_path / "demo-s0" / "search" / "airl_beam"
    folder.mkdir(parents=True)
    samples = {"a": [("2", True, 0.1), ("1", False, 0.9), ("2", True, 0.2)],
               "b": [("4", False, 0.5), ("3", True, 0.8), ("4", False, 0.3)]}  # fmt: skip
    rows = [
        {
            "problem_id": p,
            "method": "sample",
            "completion_ids": [1, 2],
            "extracted_answer": answer,
            "correct": ok,
            "search_score": score,
        }  # fmt: skip
        for p, group in samples.items()
        for answer, ok, score in group
    ]
    rows += [{"problem_id": p, "method": "beam", "generated_tokens": 6, "correct": True} for p in samples]
    (folder / "eval_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert search_report.main([str(tmp_path / "demo-s0")]) == 0
    out = capsys.readouterr().out
    assert (
        "| airl | beam | 6 | 3 | 1.000 | 0.500 | 0.500 | 0.500 | +0.500 [+0.000, +1.000] | +0.500 [+0.000, +1.000] |"
        in out
    )
    assert "| airl | 3 | 0.500 | 0.500 | 1.000 | +0.000 [-0.667, +0.667] |" in out
    assert "against ground truth" not in out  # no diagnostics written: the section is left out
    cell = {"value": 0.75, "ci": [0.7, 0.8]}
    diag = {"score": "mean", "pairwise_accuracy": cell, "n_perturbed": 8, "token_auroc": cell, "samples": None}
    diag["localization"] = {
        **cell,
        "chance": 0.5,
        "baselines": {k: cell for k in ("first_step", "last_step", "uniform")},
    }
    (folder.parent / "airl_diagnostics").mkdir()
    (folder.parent / "airl_diagnostics" / "irl_diagnostics.json").write_text(json.dumps(diag))
    assert search_report.main([str(tmp_path / "demo-s0")]) == 0
    out = capsys.readouterr().out
    assert "## The airl reward against ground truth (evaluate_irl)" in out
    assert "- first corrupted step found (localisation): 0.750 [0.700, 0.800] (always the first step 0.750" in out
    assert search_report.main([str(tmp_path / "empty")]) == 2
