"""``kisa_evaluate``'s code on the benchmark files as their projects publish
them (``benchmarks/data/``, see its SOURCES.md): the latest trained model of
a specialty answers each file's first questions k times with the real tools;
prints and writes how many questions each file holds (all readable, or the
loader refuses the file naming row and column), Pass@1, Pass@k and the judge.

    make demo   # a trained model first
    .venv/bin/python benchmarks/evaluate_published.py --specialty oncology --items 10 --k 2

Needs the embedded services up (``make demo`` leaves them running).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "published_eval.md"


def main() -> None:
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.evaluation.benchmarks import load_benchmark
    from kisa_tasks.evaluation.stage import run_evaluation
    from kisa_tasks.settings import load_settings
    from kisa_tasks.training.forms import EvalConfig, latest_run

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", default="oncology")
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--k", type=int, default=2)
    args = parser.parse_args()

    settings = load_settings()
    store = ArtefactStore.from_settings(settings)
    run = latest_run(store, "sft", args.specialty)
    folder = settings.evaluation.benchmarks_dir
    lines = [
        f"# Published benchmark files through kisa_evaluate ({time.strftime('%Y-%m-%d')})",
        "",
        f"Model: the `grpo` model of {args.specialty} run `{run}`; first {args.items} "
        f"questions of each file, k = {args.k}.",
        "",
        "| file | questions read | evaluated | judge | Pass@1 | Pass@k | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(p for p in folder.rglob("*.csv")):
        relative = path.relative_to(folder).as_posix()
        readable = len(load_benchmark(path))
        config = EvalConfig(
            specialty=args.specialty,
            pipeline_run=run,
            benchmark=relative,
            k=args.k,
            max_items=args.items,
            max_turns=2,
            max_new_tokens=32,
        )
        started = time.perf_counter()
        result = run_evaluation(
            settings, config=config, pipeline_run=run, eval_run=f"published-{path.stem}"
        )
        took = time.perf_counter() - started
        counts = result["counts"]
        print(relative, readable, json.dumps(counts))
        lines.append(
            f"| `{relative}` | {readable} | {int(counts['items'])} | {result.get('judge', '')} "
            f"| {counts['pass_at_1']} | {counts.get(f'pass_at_{args.k}', '')} | {took:.1f} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
