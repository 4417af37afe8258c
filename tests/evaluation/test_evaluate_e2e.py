"""evaluate.py end to end on the tiny models: sample, grade, score, summarise; rescoring; one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.policy_eval import run_evaluate

SELECTORS = ["sum", "mean", "min", "last", "discounted_answer"]
ROW_KEYS = {
    "problem_id",
    "sample_index",
    "greedy",
    "completion",
    "completion_ids",
    "tokens",
    "extracted_answer",
    "correct",
    "rewards",
    "token_rewards",
    "answer_span",
    "scores",
}


@pytest.fixture(scope="module")
def evaluated(eval_artifacts, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    cfg = compose_eval(
        "evaluate",
        eval_artifacts,
        out,
        f"policy={eval_artifacts['adapter']}",
        f"reward_model_path={eval_artifacts['rm']}",
        "num_problems=4",
        *SMALL,
    )
    assert run_evaluate(cfg) == out
    return out


def test_outputs_and_every_metric(evaluated):
    summary = json.loads((evaluated / "eval_summary.json").read_text())
    assert summary["n_problems"] == 4 and summary["n_samples"] == 4 and summary["n_rows"] == 4 * 5
    assert summary["config"]["policy"].endswith("final")
    metrics = summary["metrics"]
    expected = {"greedy_accuracy", "oracle@4"}
    for k in (1, 2, 4):
        expected |= {f"pass@{k}", f"maj@{k}", f"random@{k}|4"}
        expected |= {f"success@{k}|4/{s}" for s in SELECTORS}
    expected |= {f"weighted_vote/{s}" for s in SELECTORS}
    assert expected <= set(metrics)
    for name, m in metrics.items():
        assert set(m) == {"value", "ci", "n"} and len(m["ci"]) == 2 and m["n"] == 4, name
        assert m["ci"][0] <= m["value"] <= m["ci"][1], name
    table = (evaluated / "eval_table.md").read_text()
    assert "| metric | value | 95% CI |" in table and "| weighted_vote/min |" in table


def test_result_rows(evaluated):
    rows = [json.loads(line) for line in (evaluated / "eval_results.jsonl").read_text().splitlines()]
    assert len(rows) == 20
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["greedy"] == (row["sample_index"] == -1)
        assert len(row["tokens"]) == len(row["completion_ids"]) == len(row["token_rewards"])
        assert "".join(row["tokens"]) == row["completion"]
        assert set(row["scores"]) == set(SELECTORS)
        assert set(row["rewards"]) >= {"correctness", "strict_format"}
        assert row["rewards"]["correctness"] == float(row["correct"])
    assert sorted(r["sample_index"] for r in rows if r["problem_id"] == rows[0]["problem_id"]) == [-1, 0, 1, 2, 3]


def test_rescore_reproduces_scores_without_sampling(evaluated, eval_artifacts, tmp_path, monkeypatch):
    import reasoning_irl.evaluation.sampling as sampling

    def no_sampling(*a, **k):
        raise AssertionError("rescoring must not sample")

    monkeypatch.setattr(sampling, "sample_hf", no_sampling)
    monkeypatch.setattr(sampling, "load_eval_policy", no_sampling)
    cfg = compose_eval(
        "evaluate",
        eval_artifacts,
        tmp_path,
        f"rescore_from={evaluated / 'eval_results.jsonl'}",
        f"reward_model_path={eval_artifacts['rm']}",
        *SMALL,
    )
    run_evaluate(cfg)
    old = [json.loads(line) for line in (evaluated / "eval_results.jsonl").read_text().splitlines()]
    new = [json.loads(line) for line in (tmp_path / "eval_results.jsonl").read_text().splitlines()]
    assert len(old) == len(new)
    for a, b in zip(old, new):
        assert a["completion_ids"] == b["completion_ids"]
        assert b["token_rewards"] == pytest.approx(a["token_rewards"], abs=1e-5)
        assert b["scores"] == pytest.approx(a["scores"], abs=1e-4)
    m_old = json.loads((evaluated / "eval_summary.json").read_text())["metrics"]
    m_new = json.loads((tmp_path / "eval_summary.json").read_text())["metrics"]
    assert m_old == m_new


def test_rescore_finds_a_relative_recorded_policy_from_a_folder_above(evaluated, eval_artifacts, tmp_path, monkeypatch):
    """An evaluation run from the repository root records its policy as outputs/...; rescored from another working
    directory, the policy is found from a folder above the rescored file, or refused in one line naming policy=."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(eval_artifacts["adapter"], repo / "outputs" / "run" / "final")
    results = repo / "outputs" / "eval" / "base" / "eval_results.jsonl"
    results.parent.mkdir(parents=True)
    shutil.copy(evaluated / "eval_results.jsonl", results)
    summary = json.loads((evaluated / "eval_summary.json").read_text())
    summary["config"]["policy"] = "outputs/run/final"
    (results.parent / "eval_summary.json").write_text(json.dumps(summary))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def rescore(out: str):
        cfg = compose_eval(
            "evaluate",
            eval_artifacts,
            tmp_path / out,
            f"rescore_from={results}",
            f"reward_model_path={eval_artifacts['rm']}",
            *SMALL,
        )
        run_evaluate(cfg)
        return json.loads((tmp_path / out / "eval_summary.json").read_text())

    assert rescore("found")["policy"]["adapter"] == str(repo / "outputs" / "run" / "final")
    shutil.rmtree(repo / "outputs" / "run")
    with pytest.raises(ConfigError) as refused:
        rescore("missing")
    assert str(refused.value) == (
        "rescore_from: the policy its eval_summary.json records, outputs/run/final, does not exist from here or "
        "from a folder above the file; pass policy=<the evaluated policy>"
    )
    assert not (tmp_path / "missing").exists()


def test_without_reward_model_only_verifiable_metrics(eval_artifacts, tmp_path):
    cfg = compose_eval("evaluate", eval_artifacts, tmp_path, "num_problems=2", "sampling.greedy=false", *SMALL)
    run_evaluate(cfg)  # policy null: the model section's base (the tiny policy)
    metrics = json.loads((tmp_path / "eval_summary.json").read_text())["metrics"]
    assert "pass@4" in metrics and "greedy_accuracy" not in metrics
    # No reward model: no selector metric; the habit rates are graded from the text like correctness.
    assert {name for name in metrics if "/" in name} == {"habit/skip_last_step", "habit/slip", "habit/swap_operator"}


def test_greedy_only_evaluation(eval_artifacts, tmp_path):
    """num_samples=0: one greedy completion per problem, greedy_accuracy and the probes of it; no pass@k."""
    cfg = compose_eval("evaluate", eval_artifacts, tmp_path, "num_problems=3", *SMALL, "sampling.num_samples=0")
    run_evaluate(cfg)
    rows = [json.loads(line) for line in (tmp_path / "eval_results.jsonl").read_text().splitlines()]
    assert [r["sample_index"] for r in rows] == [-1, -1, -1] and all(r["greedy"] for r in rows)
    summary = json.loads((tmp_path / "eval_summary.json").read_text())
    assert summary["n_samples"] == 0 and summary["metrics"]["greedy_accuracy"]["n"] == 3
    assert not [name for name in summary["metrics"] if "@" in name]
    for bad, match in [
        (["sampling.greedy=false"], r"sampling.num_samples must be >= 1 \(or 0 with sampling.greedy=true\), got 0"),
        (["search.method=beam", f"reward_model_path={eval_artifacts['rm']}"], "needs reward_model_path and sampling"),
    ]:
        with pytest.raises(ConfigError, match=match):
            run_evaluate(
                compose_eval("evaluate", eval_artifacts, tmp_path / "x", *SMALL, "sampling.num_samples=0", *bad)
            )


def test_config_errors(eval_artifacts, tmp_path):
    for bad, match in [
        (["ks=[1,16]"], "is more than sampling.num_samples"),
        (["selectors=[nope]"], "unknown selector"),
        ([f"rescore_from={tmp_path / 'x.jsonl'}", f"reward_model_path={eval_artifacts['rm']}"], "does not exist"),
        ([f"reward_model_path={tmp_path}"], "not a saved reward model"),
    ]:
        with pytest.raises(ConfigError, match=match):
            run_evaluate(compose_eval("evaluate", eval_artifacts, tmp_path, *SMALL, *bad))


@pytest.mark.parametrize(
    "args, message",
    [
        (["policy=/no/such/policy"], "error: policy: /no/such/policy does not exist"),
        (["no_such_key=1"], "error: no_such_key: unknown config key"),
        (["rescore_from=/no/such/eval_results.jsonl", "reward_model_path=/no/such/rm"], "error: "),
        (["sampling.temprature=0.5"], "error: sampling.temprature"),
        (
            ["reward_model=/some/run/reward_model"],
            "error: evaluate.py takes a saved reward model as reward_model_path=",
        ),
    ],
)
def test_cli_errors_are_one_line(repo_root, tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, str(repo_root / "evaluate.py"), f"output_dir={tmp_path}", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr


def test_evaluation_takes_dataset_prompt_and_sampling_from_the_run_config(eval_artifacts, tmp_path, capsys):
    from omegaconf import OmegaConf

    from reasoning_irl.evaluation.config import EvalConfig, typed_config

    run_cfg = eval_artifacts["run"] / "config.yaml"
    trained = OmegaConf.to_container(OmegaConf.load(run_cfg))
    typed, dataset, _ = typed_config(
        compose_eval("evaluate", eval_artifacts, tmp_path, f"policy={eval_artifacts['adapter']}"), EvalConfig
    )
    assert dataset.name == "synthetic" and dataset.system_prompt == trained["dataset"]["system_prompt"] is not None
    assert typed.sampling.new_tokens == trained["sampling"]["max_completion_length"] == 48
    assert capsys.readouterr().out.strip() == (
        f"dataset synthetic, system prompt, temperature, top_p and max_completion_length from {run_cfg}"
    )
    # Explicit overrides win; the line names only what was still taken.
    typed, dataset, _ = typed_config(
        compose_eval(
            "evaluate",
            eval_artifacts,
            tmp_path,
            f"policy={eval_artifacts['adapter']}",
            "dataset=synthetic",
            "dataset.num_test=8",
            "sampling.max_new_tokens=16",
            "sampling.temperature=0.5",
            "sampling.top_p=0.9",
        ),
        EvalConfig,
    )
    assert dataset.num_test == 8 and dataset.system_prompt == trained["dataset"]["system_prompt"]
    assert (typed.sampling.new_tokens, typed.sampling.temperature, typed.sampling.top_p) == (16, 0.5, 0.9)
    assert capsys.readouterr().out.strip() == f"system prompt from {run_cfg}"
    # Not a run (the base model): nothing is taken, the defaults apply.
    typed, dataset, _ = typed_config(compose_eval("evaluate", eval_artifacts, tmp_path), EvalConfig)
    assert dataset.system_prompt is None and typed.sampling.new_tokens == 824 and typed.sampling.temperature == 1.0
    assert capsys.readouterr().out == ""


def test_reward_model_folder_on_the_command_line_is_the_scored_model(eval_artifacts, repo_root, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "evaluate.py"),
            f"reward_model_path={eval_artifacts['rm']}",
            f"policy={eval_artifacts['adapter']}",
            "--cfg",
            "job",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "reward_model_path: " + str(eval_artifacts["rm"]) in done.stdout


def test_headline_table_is_short_and_printed_by_evaluate_py(evaluated, eval_artifacts, repo_root, tmp_path):
    from reasoning_irl.evaluation.outputs import headline_table

    metrics = json.loads((evaluated / "eval_summary.json").read_text())["metrics"]
    rows = [line.split(" | ")[0].lstrip("| ") for line in headline_table(metrics).splitlines()[2:]]
    assert rows[:6] == ["greedy_accuracy", "pass@1", "pass@4", "maj@4", "random@1\\|4", "oracle@4"]
    assert sorted(rows[6:]) == sorted(f"success@1\\|4/{s}" for s in SELECTORS)
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "evaluate.py"),
            f"artifacts_dir={eval_artifacts['root']}",
            f"output_dir={tmp_path}",
            f"policy={eval_artifacts['adapter']}",
            f"reward_model_path={eval_artifacts['rm']}",
            "num_problems=2",
            *SMALL,
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    tail = done.stdout[done.stdout.index("done: ") :]
    assert "| metric | value | 95% CI | n |" in tail and "| success@1\\|4/sum |" in tail
    assert "| weighted_vote/sum |" not in tail and str(tmp_path / "eval_table.md") in tail
