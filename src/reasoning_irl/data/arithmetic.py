"""The synthetic task's problems as data: a start value and one-operation steps (shared by the dataset and
its habits)."""

from __future__ import annotations

from dataclasses import dataclass

OPERATIONS = ("+", "-", "*")


def apply_operation(value: int, op: str, operand: int) -> int:
    return value + operand if op == "+" else value - operand if op == "-" else value * operand


@dataclass(frozen=True)
class Problem:
    start: int
    steps: tuple[tuple[str, int], ...]
    """(operation, operand) pairs applied in order."""

    def values(self) -> list[int]:
        out = [self.start]
        for op, operand in self.steps:
            out.append(apply_operation(out[-1], op, operand))
        return out

    @property
    def answer(self) -> int:
        return self.values()[-1]

    def equations(self) -> list[str]:
        vals = self.values()
        return [f"{vals[i]} {op} {operand} = {vals[i + 1]}" for i, (op, operand) in enumerate(self.steps)]
