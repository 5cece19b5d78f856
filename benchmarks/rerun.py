"""A rerun of a finished pipeline run (issue 19): ``kisa_pipeline`` for one
specialty through ``dag.test()`` with a fixed logical date, then again with
the same date (the same Airflow run, as a cleared DAG run is). Reports both
wall times, their ratio, and how many of the run's committed partitions the
rerun committed again (stage receipts: none, when nothing changed). Then a
run killed in ``--crash-stage``: a killed stage commits nothing, nor does
any stage after it (``tests/test_drills.py`` kills a worker to show it), so
their commit markers are removed, and the run is resumed; it must commit
only those stages' partitions again. Writes ``benchmarks/results/rerun.md``.

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
    parser.add_argument("--crash-stage", default="qa")
    args = parser.parse_args()

    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.demo import dag_bag, demo_conf, run_pipeline
    from kisa_tasks.pipeline import PIPELINE
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
    # The state a run killed in crash_stage leaves: nothing from it onwards committed.
    names = [s.name for s in PIPELINE]
    lost = [p for s in PIPELINE[names.index(args.crash_stage) :] for p in s.writes]
    for name in lost:
        store.unpublish(Partition(name, args.specialty, first.dag_run_id))
    resumed = run_pipeline(settings, conf, bag, logical_date=when)
    final = versions(store, resumed.dag_run_id)
    redone = sorted(k for k in final if after.get(k) != final[k])
    expected = sorted(k for k in final if k.split("/", 1)[0] in lost)
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
        f"| resumed after a crash in `{args.crash_stage}` | {resumed.state} | {resumed.seconds} "
        f"| {len(redone)} |",
        "",
        f"The rerun took {second.seconds / first.seconds:.0%} of the first run's time.",
        f"Resumed after a crash in `{args.crash_stage}`, the run took "
        f"{resumed.seconds / first.seconds:.0%} of it and committed again "
        f"{'exactly' if redone == expected else 'NOT only'} the partitions of "
        f"`{args.crash_stage}` and the stages after it ({', '.join(lost)}).",
    ]
    if recommitted:
        lines += ["", "Committed again:", "", *(f"- `{k}`" for k in recommitted)]
    text = "\n".join(lines) + "\n"
    RESULT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
