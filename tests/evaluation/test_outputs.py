from reasoning_irl.evaluation.outputs import metrics_table


def test_metrics_table_keeps_one_cell_per_column():
    table = metrics_table(
        {
            "success@1|8/sum": {"value": 0.25, "ci": [0.1, 0.4], "n": 20},
            "greedy_accuracy": {"value": 0.5, "ci": [0.3, 0.7], "n": 20},
        },
        title="t",
    )
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[1] == "| greedy_accuracy | 0.500 | [0.300, 0.700] | 20 |"
    assert rows[2] == "| success@1\\|8/sum | 0.250 | [0.100, 0.400] | 20 |"
    # Unescaped pipes are exactly the 5 column borders of a 4-column row.
    assert all(line.replace("\\|", "").count("|") == 5 for line in rows)
