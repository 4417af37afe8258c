"""figures/make_figures.py on a small hand-built fixture: every artefact, table values, HTML escaping."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # ``figures`` lives at the repository root, not in the installed package
    sys.path.insert(0, str(REPO))

from figures import make_figures  # noqa: E402
from reasoning_irl.evaluation.diagnostics import mann_whitney  # noqa: E402

# Per method, per problem: which of the 4 samples are correct, and whether greedy is.
CORRECT = {
    "base": {"p0": [1, 0, 0, 0], "p1": [1, 1, 0, 0], "p2": [0, 0, 0, 0]},
    "airl": {"p0": [1, 1, 0, 0], "p1": [1, 1, 1, 0], "p2": [1, 0, 0, 0]},
}
GREEDY = {"base": {"p0": 1, "p1": 0, "p2": 0}, "airl": {"p0": 1, "p1": 1, "p2": 0}}
# pass@k by hand from CORRECT (unbiased estimator with n=4): base pass@1 = (1/4+2/4+0)/3 = 0.25,
# pass@2 = mean(1-C(n-c,2)/C(4,2)) = (0.5+5/6+0)/3 = 0.4444, pass@4 = 2/3; airl (c = 2, 3, 1) 0.5 / (5/6+1+1/2)/3 = 0.7778 / 1.0.
PASS = {"base": {1: 0.25, 2: 0.4444444, 4: 0.6666667}, "airl": {1: 0.5, 2: 0.7777778, 4: 1.0}}
CI_HALF = 0.1


def _tokens(answer: str) -> list[str]:
    return ["<think>", "Add", " 2", " &", " 3", "\n", "</think>", " The", " answer", " is", f" ${answer}"]


def _metric(value: float, n: int = 3) -> dict:
    return {"value": value, "ci": [value - CI_HALF, value + CI_HALF], "n": n}


def _write_eval(folder: Path, method: str) -> int:
    folder.mkdir(parents=True)
    metrics = {"greedy_accuracy": _metric(sum(GREEDY[method].values()) / 3)}
    for k, v in PASS[method].items():
        metrics[f"pass@{k}"] = _metric(v)
        metrics[f"maj@{k}"] = _metric(v * 0.9)
    for k in (1, 2):
        metrics[f"random@{k}|4"] = _metric(PASS[method][k])
        metrics[f"success@{k}|4/sum"] = _metric(min(1.0, PASS[method][k] + 0.1))
        metrics[f"success@{k}|4/mean"] = _metric(min(1.0, PASS[method][k] + 0.05))
    metrics["oracle@4"] = _metric(PASS[method][4])
    metrics["weighted_vote/sum"] = _metric(PASS[method][1] + 0.1)
    summary = {"config": {"method": method}, "n_problems": 3, "n_samples": 4, "metrics": metrics}
    (folder / "eval_summary.json").write_text(json.dumps(summary))
    n_tokens = 0
    with (folder / "eval_results.jsonl").open("w") as fh:
        for p, (pid, flags) in enumerate(CORRECT[method].items()):
            for idx, ok in [(-1, GREEDY[method][pid])] + list(enumerate(flags)):
                toks = _tokens("5" if ok else str(6 + idx))
                rewards = [
                    round(((i * 7 + idx * 3 + p) % 11 - 5) / 5.0 + (0.3 if ok else -0.3), 3) for i in range(len(toks))
                ]
                row = {
                    "problem_id": pid,
                    "sample_index": idx,
                    "greedy": idx == -1,
                    "completion": "".join(toks),
                    "question": f"What is 2 & 3? ({pid})",
                    "gold": "5",
                    "completion_ids": list(range(len(toks))),
                    "tokens": toks,
                    "extracted_answer": "5" if ok else str(6 + idx),
                    "correct": bool(ok),
                    "rewards": {"correctness": float(ok)},
                    "token_rewards": rewards,
                    "answer_span": [len(toks) - 1, len(toks)],
                    "scores": {"sum": sum(rewards), "mean": sum(rewards) / len(rewards), "min": min(rewards)},
                }
                fh.write(json.dumps(row) + "\n")
                n_tokens += len(toks)
    return n_tokens


def _write_irl(folder: Path) -> None:
    folder.mkdir(parents=True)

    def loc(value, first, last, uniform):
        return {
            **_metric(value, 2),
            "baselines": {
                "first_step": _metric(first, 2),
                "last_step": _metric(last, 2),
                "uniform": _metric(uniform, 2),
            },
            "chance": uniform,
        }

    def kind(pa, auc, loc_entry):
        return {
            "n_perturbed": 2,
            "pairwise_accuracy": _metric(pa, 2),
            "token_auroc": {"value": auc, "n_clean": 8},
            "localization": loc_entry,
        }

    # The shape evaluate_irl writes (a run of it feeds test_figures_from_real_outputs.py).
    diag = {
        **kind(0.8, 0.71, loc(0.6, 0.5, 0.25, 0.3)),
        "config": {"seed": 0},
        "seconds": 1.5,
        "pairwise_accuracy_by_selector": {"sum": _metric(0.75, 2), "mean": _metric(0.8, 2)},
        "by_kind": {
            "flip_operator": kind(0.9, 0.8, loc(0.7, 0.6, 0.1, 0.3)),
            "shift_answer": kind(0.7, 0.6, loc(0.5, 0.4, 0.4, 0.3)),
        },
    }
    (folder / "irl_diagnostics.json").write_text(json.dumps(diag))
    good = ["Step", " 1:", " 2+3=5", "\n", "Step", " 2:", " 5*2=10", "\n", "Answer:", " 10"]
    bad = ["Step", " 1:", " 2+3=5", "\n", "Step", " 2:", " 5-2=3", "\n", "Answer:", " 3"]

    def trace(tid, kind, toks, first, rewards):
        text, spans, start = "".join(toks), [], 0
        for line in text.split("\n"):
            spans.append([start, start + len(line)])
            start += len(line) + 1
        return {
            "id": tid,
            "kind": kind,
            "first_step": first,
            "tokens": toks,
            "token_rewards": rewards,
            "steps": spans,
            "step_rewards": [sum(rewards[:4]), sum(rewards[4:8]), sum(rewards[8:])],
        }

    rows = [
        trace("g0", "expert", good, None, [0.2] * 10),
        trace("g0", "flip_operator", bad, 1, [0.2] * 6 + [-0.9, -0.2, -0.5, -0.6]),
    ]
    (folder / "irl_traces.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


ARTEFACTS = [
    "pass_at_k.png",
    "pass_at_k.pdf",
    "rerank.png",
    "rerank.pdf",
    "reward_distributions.png",
    "reward_distributions.pdf",
    "token_heatmaps.png",
    "token_heatmaps.pdf",
    "irl_trace.png",
    "irl_trace.pdf",
    "irl_per_kind.png",
    "irl_per_kind.pdf",
    "pass_at_k.md",
    "pass_at_k.tex",
    "rerank.md",
    "rerank.tex",
    "summary.md",
    "summary.tex",
    "irl_diagnostics.md",
    "irl_diagnostics.tex",
    "irl_selectors.md",
    "irl_selectors.tex",
    "rerank_gain.png",
    "rerank_gain.pdf",
    "tokens.html",
]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    n_tokens = sum(_write_eval(root / m / "eval", m) for m in ("base", "airl"))
    _write_irl(root / "irl")
    return root, n_tokens


@pytest.fixture(scope="module")
def built(fixture):
    root, _ = fixture
    out = root / "out"
    rc = make_figures.main(
        [
            str(root / "base" / "eval"),
            str(root / "airl" / "eval"),
            "--out",
            str(out),
            "--labels",
            "base",
            "airl",
            "--irl",
            str(root / "irl"),
        ]
    )
    assert rc == 0
    return out


def test_every_artefact_written(built):
    for name in ARTEFACTS:
        path = built / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".pdf"):
            assert path.read_bytes().startswith(b"%PDF"), name
        if name.endswith(".png"):
            assert path.read_bytes().startswith(b"\x89PNG"), name


def test_pass_at_k_markdown(built):
    lines = (built / "pass_at_k.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| Method | pass@1 | pass@2 | pass@4 |"
    assert table[1] == "|---|---:|---:|---:|"
    assert table[2] == "| base | 0.250 [0.150, 0.350] | 0.444 [0.344, 0.544] | 0.667 [0.567, 0.767] |"
    assert table[3] == "| airl | 0.500 [0.400, 0.600] | 0.778 [0.678, 0.878] | 1.000 [0.900, 1.100] |"
    assert len(table) == 4


def test_rerank_and_latex_tables(built):
    rerank = (built / "rerank.md").read_text()
    assert "| Method | k\\|N | random | sum | mean | oracle |" in rerank
    assert "| base | 1\\|4 | 0.250 [0.150, 0.350] | 0.350 [0.250, 0.450] | 0.300 [0.200, 0.400] | 0.667" in rerank
    tex = (built / "pass_at_k.tex").read_text()
    assert r"\begin{tabular}{lrrr}" in tex and r"\textbf{1.000}" in tex and "pass@4" in tex


def test_html_spans_and_escaping(built, fixture):
    page = (built / "tokens.html").read_text(encoding="utf-8")
    _, n_tokens = fixture
    assert len(re.findall(r'<span class="tok[ "]', page)) == n_tokens  # one span per eval token
    assert "&lt;think&gt;" in page and "<think>" not in page
    assert " &amp;" in page and "http" not in page  # escaped text, no external assets
    assert "✓ correct" in page and "✗ wrong" in page
    assert re.search(r'<span class="tok r\d+" title="[+-]\d\.\d{4} · #0">&lt;think&gt;</span>', page)  # tooltip
    assert "What is 2 &amp; 3? (p1)" in page and "<b>Gold answer:</b> <code>5</code>" in page
    assert "sample -1" not in page and '<span class="meta">greedy · ' in page
    assert "<details" in page and " open" not in page  # sections start collapsed


def test_irl_table_is_the_diagnostics_with_cis(built):
    table = [line for line in (built / "irl_diagnostics.md").read_text().splitlines() if line.startswith("|")]
    assert table[0] == ("| Kind | n | pairwise acc. | token AUROC | localisation | first step | last step | uniform |")
    assert table[2] == (
        "| all | 2 | 0.800 [0.700, 0.900] | 0.710 | 0.600 [0.500, 0.700] | 0.500 [0.400, 0.600] "
        "| 0.250 [0.150, 0.350] | 0.300 [0.200, 0.400] |"
    )
    assert [row.split(" | ")[0] for row in table[2:]] == ["| all", "| flip_operator", "| shift_answer"]
    text = (built / "irl_diagnostics.md").read_text()
    assert "seed" not in text and "seconds" not in text and "config" not in text
    assert "| sum | 0.750 [0.650, 0.850] |" in (built / "irl_selectors.md").read_text()


def test_html_max_problems_caps_problems_not_traces(fixture, tmp_path):
    root, _ = fixture
    out = tmp_path / "capped"
    assert (
        make_figures.main(
            [str(root / "base" / "eval"), "--out", str(out), "--irl", str(root / "irl"), "--html-max-problems", "1"]
        )
        == 0
    )
    page = (out / "tokens.html").read_text(encoding="utf-8")
    assert page.count('<details class="problem">') == 2  # one eval problem, one trace problem
    assert "Showing the first 1 of 3 problems." in page
    assert page.count('class="badge ok">expert') == 1 and page.count('class="badge bad">flip_operator') == 1


def test_subprocess_cli(fixture, tmp_path):
    root, _ = fixture
    out = tmp_path / "cli"
    done = subprocess.run(
        [
            sys.executable,
            "figures/make_figures.py",
            str(root / "base" / "eval"),
            str(root / "airl" / "eval"),
            "--out",
            str(out),
            "--irl",
            str(root / "irl"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert all((out / name).stat().st_size > 0 for name in ARTEFACTS)
    # Default labels are folder names; both are "eval", so the parent folder disambiguates.
    assert "| base/eval |" in (out / "pass_at_k.md").read_text()


def test_missing_files_are_notes_and_bad_path_is_exit_2(fixture, tmp_path, capsys):
    root, _ = fixture
    empty = tmp_path / "empty_method"
    empty.mkdir()
    rc = make_figures.main([str(root / "base" / "eval"), str(empty), "--out", str(tmp_path / "o")])
    assert rc == 0
    captured = capsys.readouterr()
    assert "eval_summary.json is missing" in captured.out
    assert "| empty_method |" not in (tmp_path / "o" / "pass_at_k.md").read_text()
    rc = make_figures.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o2")])
    captured = capsys.readouterr()
    assert rc == 2 and captured.err.count("\n") == 1 and "does not exist" in captured.err


def test_mann_whitney_by_hand():
    # Pairs (3,1) (3,2) (2,1) win, (2,2) ties: U = 3.5 of 4 pairs.
    u, auroc, p = mann_whitney([3, 2], [1, 2])
    assert u == pytest.approx(3.5) and auroc == pytest.approx(0.875) and 0 < p <= 1
    assert mann_whitney([1.0], [])[1] != mann_whitney([1.0], [])[1]  # NaN when a class is empty
