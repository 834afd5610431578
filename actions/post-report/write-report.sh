#!/usr/bin/env bash
# Render the report with the project's command and copy it into the job summary.
set -euo pipefail

for flag in REPORT_PUBLISH_IMAGES REPORT_COMMENT; do
  if [[ "${!flag}" != "true" && "${!flag}" != "false" ]]; then
    echo "::error::${flag} must be \"true\" or \"false\", got \"${!flag}\""
    exit 1
  fi
done
if ! command -v "$REPORT_CLI" >/dev/null; then
  echo "::error::'$REPORT_CLI' is not on PATH: run the setup-project action first and pass its cli output"
  exit 1
fi
if ! git rev-parse --verify --quiet "$REPORT_BASE^{commit}" >/dev/null; then
  echo "::error::Base revision '$REPORT_BASE' is not in this clone: check out with fetch-depth: 0"
  exit 1
fi

report_dir=reports/pr
# The charts are Mermaid in the text, shown everywhere. The images show inline only where they
# are uploaded (the comment, with publishing on); the job summary and an unpublished comment
# name the artifact of this run that holds them. One run writes both, so the same-rows
# comparison is computed once.
run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
args=(report --base "$REPORT_BASE" --out-dir "$report_dir")
args+=(--plots-link "$run_url" --artifact "$REPORT_ARTIFACT")
if [[ -n "$REPORT_HEAD" ]]; then
  args+=(--commit "$REPORT_HEAD")
fi
if [[ -n "$REPORT_TRAINING" ]]; then
  args+=(--training "$REPORT_TRAINING")
fi
comment_shows_plots=false
if [[ "$REPORT_COMMENT" == "true" && "$REPORT_PUBLISH_IMAGES" == "true" ]]; then
  comment_shows_plots=true
  args+=(--shown-plots-copy "$report_dir/comment.md")
fi
"$REPORT_CLI" "${args[@]}" >/dev/null
if [[ "$comment_shows_plots" == "false" ]]; then
  cp "$report_dir/report.md" "$report_dir/comment.md"
fi

cat "$report_dir/report.md" >>"$GITHUB_STEP_SUMMARY"
{
  echo "report-dir=$report_dir"
  echo "report-file=$report_dir/comment.md"
} >>"$GITHUB_OUTPUT"
