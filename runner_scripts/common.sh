# Shared by the runner scripts (sourced, not run): command printing, dry runs, the Python and the launcher.
#   DRY_RUN=1      print every command, run none
#   PYTHON         interpreter (default: .venv/bin/python when present, else python3)
#   LAUNCHER=slurm multiruns go through the SLURM launcher preset (configs/hydra/launcher/slurm.yaml): LAUNCH holds
#                  the Hydra argument to add (empty for the default, local launcher)
# Callers set USAGE and cd to the repository root first.

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DRY_RUN=${DRY_RUN:-0}
LAUNCHER=${LAUNCHER:-local}

usage() {  # usage [message]: the message, the usage line, exit 2
    [ $# -eq 0 ] || echo "error: $*" >&2
    echo "usage: $USAGE" >&2
    exit 2
}

run() {  # print the command (shell-quoted, so it can be pasted), then run it unless DRY_RUN=1
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    [ "$DRY_RUN" = 1 ] || "$@"
}

# The Hydra arguments that pick the launcher of a multirun.
case "$LAUNCHER" in
    local) LAUNCH=() ;;
    slurm) LAUNCH=(hydra/launcher=slurm) ;;
    *) echo "error: LAUNCHER must be local or slurm, got '$LAUNCHER'" >&2; exit 2 ;;
esac
