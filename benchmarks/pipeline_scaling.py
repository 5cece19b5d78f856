"""How ``kisa_pipeline``'s cost grows with its input: the whole DAG through
``dag.test()`` (every stage and quality gate, offline backends) on corpora of
1,000, 5,000 and all ~33,000 abstracts of the two bundled PubMed files.

The smaller corpora are the first N/2 records with an abstract of each
bundled file, copied byte for byte into MEDLINE XML files of their own (the
whole corpus is ``embedded``). Each size is one run, one after another, in
this process (after one unreported warm-up run) and against the same
embedded services; per-task times are the
task instances' own durations (the mapped ``graphs_shard`` tasks summed).

    .venv/bin/python benchmarks/pipeline_scaling.py [--sizes 1000 5000 0]
        [--specialty cardiology] [--out benchmarks/results/pipeline_scaling.json]

Size 0 is the whole embedded corpus. Starts S3, the graph store and MLflow if
they are not running (and leaves them running; ``kisa services down``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.demo import dag_bag
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import load_settings
from kisa_tasks.specialties import WHOLE_CORPUS

HEADER = b'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n'
COUNTED = (  # (stage, specialty or None for the run's specialty)
    ("abstracts", WHOLE_CORPUS), ("abstracts", None), ("mentions", WHOLE_CORPUS),
    ("entities", None), ("seeds", None), ("triples", None), ("subgraphs", None), ("qa", None),
    ("trajectories", None), ("sft", None),
)  # fmt: skip


def records_with_abstract(path: Path) -> Any:
    """Each ``<PubmedArticle>`` element of a MEDLINE file as its raw bytes,
    only those with an abstract (the file is pretty-printed by NLM, one
    element start and end per line)."""
    with gzip.open(path, "rb") as fh:
        record: list[bytes] = []
        for line in fh:
            stripped = line.strip()
            if stripped == b"<PubmedArticle>":
                record = [line]
            elif record:
                record.append(line)
                if stripped == b"</PubmedArticle>":
                    body = b"".join(record)
                    record = []
                    if b"<AbstractText" in body:
                        yield body


def write_subset(files: list[Path], size: int, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    share = size // len(files)
    for k, path in enumerate(files):
        taken = 0
        with gzip.open(out_dir / f"subset{k:02d}.xml.gz", "wb") as out:
            out.write(HEADER)
            for body in records_with_abstract(path):
                out.write(body)
                taken += 1
                if taken == share:
                    break
            out.write(b"</PubmedArticleSet>\n")
    return out_dir


def task_seconds(dag_run: Any) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for ti in dag_run.get_task_instances():
        seconds[ti.task_id] += float(ti.duration or 0.0)
    return {k: round(v, 1) for k, v in sorted(seconds.items())}


def row_counts(store: ArtefactStore, specialty: str, run_id: str) -> dict[str, int]:
    counts = {}
    for stage, which in COUNTED:
        part = Partition(stage, which or specialty, run_id)
        name = f"{stage}[{'all' if which else specialty}]" if stage == "abstracts" else stage
        counts[name] = store.marker(part).rows if store.is_committed(part) else 0
    return counts


def markdown(results: list[dict[str, Any]]) -> str:
    sizes = [r["label"] for r in results]
    lines = ["| | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for key in results[0]["rows"]:
        lines.append(
            f"| {key} (rows) | " + " | ".join(f"{r['rows'][key]:,}" for r in results) + " |"
        )
    tasks = sorted({t for r in results for t in r["task_seconds"]}, key=_order(results[-1]))
    for task in tasks:
        cells = [f"{r['task_seconds'].get(task, 0.0):.1f}" for r in results]
        lines.append(f"| {task} (s) | " + " | ".join(cells) + " |")
    lines.append(
        "| **whole run, wall (s)** | "
        + " | ".join(f"**{r['wall_s']:.0f}**" for r in results)
        + " |"
    )
    return "\n".join(lines)


def _order(result: dict[str, Any]) -> Any:
    # Tasks in the order they ran in the largest run.
    order = {task: i for i, task in enumerate(result["task_order"])}
    return lambda task: order.get(task, len(order))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 0])
    parser.add_argument("--specialty", default="cardiology")
    parser.add_argument("--warmup", type=int, default=1, help="unreported runs first")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/pipeline_scaling.json")
    )
    args = parser.parse_args()
    ServiceManager(load_settings()).up(["s3", "graph", "mlflow"])
    settings = load_settings()
    store = ArtefactStore.from_settings(settings)
    bag = dag_bag(settings)
    dag = bag.get_dag("kisa_pipeline")
    files = embedded_baseline_files()
    results = []
    with tempfile.TemporaryDirectory(prefix="kisa-scaling-") as tmp:
        # The first run in a process pays for imports (Great Expectations
        # alone takes 10-20 s) and first connections: a warm-up run of the
        # smallest size goes first and is not reported.
        runs = [(args.sizes[0], False)] * args.warmup + [(size, True) for size in args.sizes]
        for size, reported in tqdm(runs, desc="pipeline runs"):
            corpus = str(write_subset(files, size, Path(tmp) / str(size))) if size else "embedded"
            conf = {"specialty": args.specialty, "corpus": corpus, "max_abstracts": 50_000_000}
            start = time.monotonic()
            dag_run = dag.test(run_conf=conf)
            wall = time.monotonic() - start
            if str(dag_run.state) != "success":
                raise SystemExit(f"size {size}: run {dag_run.run_id} {dag_run.state}")
            if not reported:
                continue
            tis = sorted(dag_run.get_task_instances(), key=lambda ti: ti.start_date)
            results.append({
                "label": f"{size:,} abstracts" if size else "all (embedded)",
                "size": size, "run_id": dag_run.run_id, "wall_s": round(wall, 1),
                "task_seconds": task_seconds(dag_run),
                "task_order": list(dict.fromkeys(ti.task_id for ti in tis)),
                "rows": row_counts(store, args.specialty, dag_run.run_id),
            })  # fmt: skip
            tqdm.write(f"{results[-1]['label']}: {wall:.0f} s, {results[-1]['rows']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"specialty": args.specialty, "results": results}, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
