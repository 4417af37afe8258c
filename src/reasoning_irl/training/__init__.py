"""Training: run setup, the SFT and GRPO baselines, advantage estimators and the policy loss; ``airl/`` holds
the adversarial IRL trainer and everything only it uses (discriminator, its batches and losses)."""
