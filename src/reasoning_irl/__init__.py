"""reasoning_irl: dense token-level reasoning rewards learned from expert demonstrations by AIRL."""

__version__ = "0.1.0"
