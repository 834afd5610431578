"""Refuse to serve a database whose MLflow schema is not this MLflow's.

`mlflow server` upgrades an older database by itself when its schema lacks one of the current
tables, as every MLflow 2 database does for MLflow 3: during the first request, with no backup,
while /health already answers. Upgrading is the operator's step (`entrypoint.sh upgrade`, after
a backup), so the server starts only on an empty database or one at this MLflow's schema.
MLflow migrates with Alembic; this reads the database's revision and the head of the installed
MLflow's migrations with Alembic's API, since MLflow has no public call for it.
"""

import os
import sys
from pathlib import Path

import mlflow
import sqlalchemy
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(mlflow.__file__).parent / "store" / "db_migrations"


def main() -> int:
    uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.connect() as connection:
            found = MigrationContext.configure(connection).get_current_revision()
            empty = not sqlalchemy.inspect(connection).get_table_names()
    finally:
        engine.dispose()
    if found == head or (found is None and empty):
        return 0  # current, or new: the server creates the tables
    print(
        f"Out-of-date database schema: the database is at revision {found or 'none'}, MLflow "
        f"{mlflow.__version__} needs {head}. Back the database up, then run "
        "`entrypoint.sh upgrade` (mlflow db upgrade) once; the server will not start until then.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
