#!/usr/bin/env bash
# One comment per pull request: CML finds its earlier comment by its watermark and edits it.
set -euo pipefail

if ! command -v cml >/dev/null; then
  # A local prefix: no global npm directory (or sudo) needed, nothing left outside the run.
  prefix="$RUNNER_TEMP/cml"
  npm install --prefix "$prefix" --no-audit --no-fund "@dvcorg/cml@$REPORT_CML_VERSION"
  PATH="$prefix/node_modules/.bin:$PATH"
fi
cml comment update --target=pr --publish="$REPORT_PUBLISH_IMAGES" "$REPORT_FILE"
