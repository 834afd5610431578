#!/usr/bin/env bash
# Install the locked environment, put it on PATH, and say where data and runs go.
set -euo pipefail

case "$SETUP_REQUIRE_TRACKING_SERVER" in
  true)
    if [[ -z "$SETUP_MLFLOW_TRACKING_URI" ]]; then
      echo "::error::Set the repository variable MLFLOW_TRACKING_URI to your MLflow tracking server (Settings > Secrets and variables > Actions > Variables): this job registers or promotes models, and a registry inside the job would vanish with it"
      exit 1
    fi
    ;;
  false) ;;
  *)
    echo "::error::require-tracking-server must be \"true\" or \"false\", not '$SETUP_REQUIRE_TRACKING_SERVER'"
    exit 1
    ;;
esac

if [[ ! -f uv.lock ]]; then
  echo "::error::No uv.lock in $PWD: check out the repository before setting it up"
  exit 1
fi

{
  echo "DVC_NO_ANALYTICS=1"
  echo "MLFLOW_DISABLE_TELEMETRY=true"
  echo "DO_NOT_TRACK=1"
} >>"$GITHUB_ENV"

uv sync --frozen
# Later steps call `dvc` and the project's command directly, as in an activated environment.
echo "VIRTUAL_ENV=$PWD/.venv" >>"$GITHUB_ENV"
echo "$PWD/.venv/bin" >>"$GITHUB_PATH"

if [[ -n "$SETUP_DVC_REMOTE_URL" ]]; then
  # --local: this runner's own config, never committed
  .venv/bin/dvc remote add --local --force ci "$SETUP_DVC_REMOTE_URL"
  .venv/bin/dvc remote default --local ci
fi

if [[ -n "$SETUP_S3_ENDPOINT_URL" ]]; then
  # Read by DVC's S3 client (botocore) for every s3:// remote.
  echo "AWS_ENDPOINT_URL_S3=$SETUP_S3_ENDPOINT_URL" >>"$GITHUB_ENV"
fi

if [[ -n "$SETUP_MLFLOW_TRACKING_URI" ]]; then
  echo "MLFLOW_TRACKING_URI=$SETUP_MLFLOW_TRACKING_URI" >>"$GITHUB_ENV"
fi
# MLflow's clients read these themselves: basic authentication, or a bearer token alone.
if [[ -n "$SETUP_MLFLOW_TRACKING_PASSWORD" ]]; then
  echo "::add-mask::$SETUP_MLFLOW_TRACKING_PASSWORD"
  if [[ -n "$SETUP_MLFLOW_TRACKING_USERNAME" ]]; then
    echo "MLFLOW_TRACKING_USERNAME=$SETUP_MLFLOW_TRACKING_USERNAME" >>"$GITHUB_ENV"
    echo "MLFLOW_TRACKING_PASSWORD=$SETUP_MLFLOW_TRACKING_PASSWORD" >>"$GITHUB_ENV"
  else
    echo "MLFLOW_TRACKING_TOKEN=$SETUP_MLFLOW_TRACKING_PASSWORD" >>"$GITHUB_ENV"
  fi
fi

cli=$(.venv/bin/python -c '
import tomllib
with open("pyproject.toml", "rb") as handle:
    print(*tomllib.load(handle).get("project", {}).get("scripts", {}))')
if [[ -z "$cli" || "$cli" == *" "* ]]; then
  echo "::error::pyproject.toml must declare exactly one [project.scripts] entry, the pipeline's command (found: '${cli}')"
  exit 1
fi
echo "cli=$cli" >>"$GITHUB_OUTPUT"
