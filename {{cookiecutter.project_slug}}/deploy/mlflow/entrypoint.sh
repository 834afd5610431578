#!/bin/sh
# The tracking server's entry point: the image's, and runnable as is from the repository root:
#   uv run --frozen --only-group tracking-server deploy/mlflow/entrypoint.sh [server|upgrade]
#   server   serve the REST API, the UI and the artifact proxy (the default)
#   upgrade  migrate the database to this MLflow version: once, after a backup, whenever the
#            version changes (the server refuses to start on an out-of-date schema:
#            check_schema.py)
set -eu

: "${MLFLOW_BACKEND_STORE_URI:?must name the database, e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/mlflow}"

case "${1:-server}" in
  server)
    : "${MLFLOW_ARTIFACTS_DESTINATION:?must name the artifact store, e.g. s3://BUCKET/mlflow}"
    # An older database is upgraded by `upgrade` below, after a backup, never by the server.
    python "$(dirname "$0")/check_schema.py"
    # mlflow server also reads MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS and, for host names
    # other than localhost and private addresses, MLFLOW_SERVER_ALLOWED_HOSTS.
    exec mlflow server
    ;;
  upgrade)
    exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"
    ;;
  *)
    echo "usage: entrypoint.sh [server|upgrade]" >&2
    exit 2
    ;;
esac
