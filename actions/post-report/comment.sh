#!/usr/bin/env bash
# One comment per pull request: CML finds its earlier comment by its watermark and edits it.
set -euo pipefail

if ! command -v cml >/dev/null; then
  npm install --global --no-audit --no-fund "@dvcorg/cml@$REPORT_CML_VERSION"
fi
cml comment update --target=pr --publish="$REPORT_PUBLISH_IMAGES" "$REPORT_FILE"
