"""kbc-table-sync with Airflow: one container per source table, fanned out at run time.

The first task runs the image's `list` sync action, which prints one JSON document,
{"tables": [{"name": ..., "primaryKey": [...]}, ...]}, listing the tables of the source bucket.
Dynamic task mapping then starts one container per table with `--table NAME`
(docs/scaling.md). Standalone mode: config.json names a destination project, and each
destination table carries its own watermark, so the containers share no data folder and no
state file needs to be copied between runs.

config.json holds both "#token" values. It stays on the Docker host, readable only there, and is
mounted read-only into each container; no token appears in this DAG. Every name the bucket lists
must be configured in config.json's "tables" (a name that is not exits 1).

Needs apache-airflow-providers-docker. Airflow caps one mapping at [core] max_map_length (1024).
"""

import json
from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount

IMAGE = "kbc-table-sync:1.2.3"
# On the Docker host; contains the tokens, so keep it mode 0400 and owned by uid 1000.
CONFIG_FILE = "/srv/kbc-table-sync/config.json"

# Only config.json is mounted: each container has its own /data (and its own lock in /data/out).
CONFIG_MOUNT = Mount(source=CONFIG_FILE, target="/data/config.json", type="bind", read_only=True)

with DAG(
    dag_id="kbc_table_sync",
    schedule="15 * * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    # One DAG run at a time: a table is never synced by two runs at once.
    max_active_runs=1,
    tags=["kbc-table-sync"],
):
    list_tables = DockerOperator(
        task_id="list_tables",
        image=IMAGE,
        command=["action", "list"],
        mounts=[CONFIG_MOUNT],
        # The action's stdout is exactly one JSON line: the last line is pushed to XCom.
        do_xcom_push=True,
        auto_remove="success",
        mount_tmp_dir=False,
    )

    @task
    def table_commands(listing) -> list:
        """One command per table: ["--table", NAME]."""
        if isinstance(listing, bytes):
            listing = listing.decode("utf-8")
        tables = json.loads(listing)["tables"]
        return [["--table", table["name"]] for table in tables]

    DockerOperator.partial(
        task_id="sync_table",
        image=IMAGE,
        mounts=[CONFIG_MOUNT],
        environment={"KBC_RUNID": "{{ run_id }}.{{ ti.map_index }}"},
        auto_remove="success",
        mount_tmp_dir=False,
        # Tables copied at once across all runs of this DAG.
        max_active_tis_per_dag=4,
        execution_timeout=timedelta(hours=1),
        # Exit 2 (an outage) may pass on a retry; exit 1 (fix the configuration) fails again.
        retries=2,
        retry_delay=timedelta(minutes=5),
    ).expand(command=table_commands(list_tables.output))
