#!/usr/bin/env bash
# One comment per pull request, edited in place on every push. It is written through GitHub's
# REST API (upsert_comment.py); CML is used only where nothing else does the job: uploading the
# plots to its asset host so that they show inline (publish-images: true).
set -euo pipefail

if [[ "$REPORT_PUBLISH_IMAGES" != "true" ]]; then
  exec python3 "$GITHUB_ACTION_PATH/upsert_comment.py" "$REPORT_FILE"
fi

kept="the report is in this run's job summary and its $REPORT_ARTIFACT artifact"
without="set publish-images to false to comment without CML"
if ! command -v cml >/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "::error::CML (npm @dvcorg/cml) publishes the plots, and npm, which installs it, is not on PATH: $kept; $without"
    exit 1
  fi
  # A local prefix: no global npm directory (or sudo) needed, nothing left outside the run.
  prefix="$RUNNER_TEMP/cml"
  if ! npm install --prefix "$prefix" --no-audit --no-fund "@dvcorg/cml@$REPORT_CML_VERSION"; then
    echo "::error::Could not install CML (npm @dvcorg/cml@$REPORT_CML_VERSION), which publishes the plots: $kept; $without"
    exit 1
  fi
  PATH="$prefix/node_modules/.bin:$PATH"
fi
if ! cml comment update --target=pr --publish=true "$REPORT_FILE"; then
  echo "::error::CML (cml comment update) could not post the report: $kept"
  exit 1
fi
