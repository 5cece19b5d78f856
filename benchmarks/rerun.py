"""A rerun of a finished pipeline run (issue 19): ``kisa_pipeline`` for one
specialty through ``dag.test()`` with a fixed logical date, then again with
the same date (the same Airflow run, as a cleared DAG run is). Reports both
wall times, their ratio, and how many of the run's committed partitions the
rerun committed again (stage receipts: none, when nothing changed). Writes
``benchmarks/results/rerun.md``.

    .venv/bin/python benchmarks/rerun.py --specialty cardiology

Needs the embedded services (``kisa services up s3 graph mlflow``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "rerun.md"


def versions(store: object, run_id: str) -> dict[str, str]:
    """Marker key -> commit version of every partition of ``run_id``."""
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.pipeline import partitions

    assert isinstance(store, ArtefactStore)
    out = {}
    for stage in partitions():
        for partition in store.committed(stage):
            if partition.run.startswith(run_id):
                out[partition.marker_key] = store.marker(partition).version
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", default="cardiology")
    args = parser.parse_args()

    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.demo import dag_bag, demo_conf, run_pipeline
    from kisa_tasks.settings import load_settings

    settings = load_settings()
    bag = dag_bag(settings)
    conf = demo_conf(args.specialty, 0, None, "")
    when = datetime.now(UTC).replace(microsecond=0)
    first = run_pipeline(settings, conf, bag, logical_date=when)
    store = ArtefactStore.from_settings(settings)
    before = versions(store, first.dag_run_id)
    second = run_pipeline(settings, conf, bag, logical_date=when)
    after = versions(store, second.dag_run_id)
    assert first.dag_run_id == second.dag_run_id, "not the same Airflow run"
    recommitted = sorted(k for k in after if before.get(k) != after[k])
    lines = [
        "# A rerun of a finished pipeline run",
        "",
        f"`benchmarks/rerun.py --specialty {args.specialty}`: `kisa_pipeline` through "
        f"`dag.test()`, run `{first.dag_run_id}`, then the same run again.",
        "",
        "| run | state | seconds | partitions committed |",
        "|---|---|---:|---:|",
        f"| first | {first.state} | {first.seconds} | {len(before)} |",
        f"| rerun | {second.state} | {second.seconds} | {len(recommitted)} |",
        "",
        f"The rerun took {second.seconds / first.seconds:.0%} of the first run's time.",
    ]
    if recommitted:
        lines += ["", "Committed again:", "", *(f"- `{k}`" for k in recommitted)]
    text = "\n".join(lines) + "\n"
    RESULT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
