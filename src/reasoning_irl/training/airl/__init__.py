"""AIRL: a discriminator's dense token reward drives a GRPO LoRA policy."""
