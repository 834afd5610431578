#!/usr/bin/env bash
# dvc repro, then say what it did with the train stage; outputs are written before any failure
# so that a report can still explain it.
set -euo pipefail

for flag in PIPELINE_PUSH PIPELINE_REMOTE_ACCESS; do
  if [[ "${!flag}" != "true" && "${!flag}" != "false" ]]; then
    echo "::error::${flag} must be \"true\" or \"false\", got \"${!flag}\""
    exit 1
  fi
done
if [[ "$PIPELINE_REMOTE_ACCESS" == "false" && "$PIPELINE_PUSH" == "true" ]]; then
  echo "::error::push is \"true\" but remote-access is \"false\": there is no remote to push to"
  exit 1
fi
if [[ -n "$PIPELINE_PUSH_PREFIX" && ! "$PIPELINE_PUSH_PREFIX" =~ ^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$ ]]; then
  echo "::error::push-prefix must be a folder name such as pull-requests (letters, digits, _ and -, joined by /), got \"$PIPELINE_PUSH_PREFIX\""
  exit 1
fi
if ! command -v dvc >/dev/null; then
  echo "::error::dvc is not on PATH: run the setup-project action first"
  exit 1
fi

# --allow-missing skips unchanged stages whose outputs are not here; --pull fetches only what a
# stage to run needs, and run-cache entries.
repro_args=(--allow-missing)
if [[ "$PIPELINE_REMOTE_ACCESS" == "true" ]]; then
  # The template's default remote is a folder beside the clone: right on a laptop, absent here.
  remote=$(dvc remote default 2>/dev/null) || remote=""
  if [[ -z "$remote" ]]; then
    echo "::error::No default DVC remote: set the DVC_REMOTE_URL repository variable (see the README, \"Set up GitHub\")"
    exit 1
  fi
  remote_url=$(dvc config "remote.$remote.url")  # a local path comes back absolute
  if [[ "$remote_url" != *://* && ! -d "$remote_url" ]]; then
    echo "::error::The DVC remote '$remote_url' is a folder that does not exist on this runner: set the DVC_REMOTE_URL repository variable (see the README, \"Set up GitHub\")"
    exit 1
  fi
  repro_args+=(--pull)
else
  echo "No DVC remote in this run (a fork's pull request gets no repository variables or secrets): only stages that need nothing from it can run."
fi

metrics_file=$(python -c '
import yaml
with open("dvc.yaml", encoding="utf-8") as handle:
    stages = yaml.safe_load(handle)["stages"].values()
for entry in (entry for stage in stages for entry in stage.get("metrics", [])):
    print(next(iter(entry)) if isinstance(entry, dict) else entry)
    break')
echo "metrics-file=$metrics_file" >>"$GITHUB_OUTPUT"

log=$(mktemp)
status=0
dvc repro "${repro_args[@]}" 2>&1 | tee "$log" || status=$?

if grep -q "^Running stage 'train'" "$log"; then
  training=ran
elif grep -q "^Stage 'train' is cached" "$log"; then
  training=restored
else
  training=skipped
fi
model_ready=$(grep -c "^Running stage 'evaluate'\|^Stage 'train' is cached" "$log" || true)
if ((status != 0 && model_ready == 0)); then
  training=failed
fi
# Without the remote, a stage that must run finds its inputs absent: DVC stops before running
# it, naming the missing file. That is the run's limit, not the change's fault.
missing="^ERROR: failed to reproduce '[^']*': \[Errno 2\] No such file or directory"
if ((status != 0)) && [[ "$PIPELINE_REMOTE_ACCESS" == "false" ]] && grep -q "$missing" "$log"; then
  echo "training=needs-remote" >>"$GITHUB_OUTPUT"
  echo "::notice title=Not trained::This change needs the data in the DVC remote, which this run cannot reach (a fork's pull request): a maintainer can push the branch to this repository to train it"
  exit 0
fi
echo "training=$training" >>"$GITHUB_OUTPUT"

if ((status != 0)); then
  echo "::error::dvc repro failed (exit $status): see the stage output above"
  exit "$status"
fi
echo "Train stage: $training"

if [[ "$PIPELINE_PUSH" == "true" ]]; then
  # --run-cache: the next run with the same inputs restores, not retrains
  target=()
  if [[ -n "$PIPELINE_PUSH_PREFIX" ]]; then
    # A remote of this runner's own (--local) at the prefix, reached as the remote itself is
    # (the credentials and endpoint come from the environment).
    dvc remote add --local --force push-prefix "$remote_url/$PIPELINE_PUSH_PREFIX"
    target=(--remote push-prefix)
  fi
  echo "Pushing the outputs and run cache to the DVC remote${PIPELINE_PUSH_PREFIX:+ under $PIPELINE_PUSH_PREFIX/}"
  dvc push --run-cache "${target[@]}"
fi
