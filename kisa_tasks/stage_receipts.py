"""Stage receipts: a rerun of a stage whose inputs, parameters, settings and
code are unchanged, and whose outputs are still the ones it committed,
commits nothing and returns what it returned before (issue 19).

A receipt is written after a stage task succeeds, under
``runs/receipts/run=R/specialty=S/<stage>-<params>.json``. It holds the
stage's result, a fingerprint of what does not live in the store (stage,
parameters, the settings that shape outputs, the code) and the versions of
the partitions it read and committed (``artefacts.access``). A rerun of the
same Airflow run (a cleared DAG run, a retried task, ``dag.test()`` with
the same logical date) skips the stage when all of them still match; a
stage that committed nothing (a Ray job committing in another process, a
planning step) is never skipped. After a crash, a rerun redoes the stage
that did not finish and whatever read its new output.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts.access import recording
from kisa_tasks.artefacts.keys import check_component, parse_partition_prefix
from kisa_tasks.artefacts.store import ArtefactStore, NotCommittedError
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent
SQL = PACKAGE.parent / "sql"
# The settings sections that change what a stage writes; endpoints, ports
# and credentials do not.
OUTPUT_SETTINGS = {"graph", "qa", "agent", "sft", "llm", "evaluation"}


@dataclass(frozen=True)
class Receipt:
    fingerprint: str
    inputs: dict[str, str]  # marker key -> version read
    outputs: dict[str, str]  # marker key -> version committed
    result: dict[str, Any]


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the library's code and queries: an edit, committed or not,
    is a new version."""
    digest = hashlib.sha256()
    for path in sorted([*PACKAGE.rglob("*.py"), *SQL.rglob("*.sql"), *SQL.rglob("*.cypher")]):
        digest.update(str(path.relative_to(PACKAGE.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def settings_version(settings: KisaSettings) -> str:
    dumped = settings.model_dump(include=OUTPUT_SETTINGS, mode="json")
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()


def fingerprint(name: str, params: Mapping[str, Any], settings: KisaSettings) -> str:
    text = json.dumps(
        {"stage": name, "params": params, "settings": settings_version(settings),
         "code": code_version()},
        sort_keys=True,
        default=str,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def receipt_key(name: str, specialty: str, run_id: str, params: Mapping[str, Any]) -> str:
    """One receipt per (stage, parameters) of a run: the shards of a stage
    and its merge are separate pieces of work."""
    tag = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    run, where = check_component("run", run_id), check_component("specialty", specialty)
    stage = check_component("stage", name)
    return f"runs/receipts/run={run}/specialty={where}/{stage}-{tag[:16]}.json"


def current_version(store: ArtefactStore, marker_key: str) -> str:
    partition = parse_partition_prefix(marker_key)
    if partition is None:
        return ""
    try:
        return store.marker(partition).version
    except NotCommittedError:
        return ""


def still_valid(store: ArtefactStore, receipt: Receipt, expected: str) -> bool:
    """Same fingerprint, something committed, and every partition read or
    committed is still at the version the receipt saw."""
    if receipt.fingerprint != expected or not receipt.outputs:
        return False
    seen = {**receipt.inputs, **receipt.outputs}
    return all(current_version(store, key) == version for key, version in seen.items())


def load(store: ArtefactStore, key: str) -> Receipt | None:
    if not store.exists(key):
        return None
    try:
        return Receipt(**store.get_json(key))
    except (TypeError, ValueError):
        return None  # an unreadable receipt is no receipt: the stage runs


def run_with_receipt(
    settings: KisaSettings,
    name: str,
    specialty: str,
    run_id: str,
    params: Mapping[str, Any],
    work: Callable[[], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """``work()``'s result and False, or the receipt's result and True when
    the stage is skipped."""
    store = ArtefactStore.from_settings(settings)
    key = receipt_key(name, specialty, run_id, params)
    expected = fingerprint(name, params, settings)
    receipt = load(store, key)
    if receipt is not None and still_valid(store, receipt, expected):
        log.info("%s: inputs, parameters and code unchanged since %s; skipped", name, key)
        return receipt.result, True
    with recording() as access:
        result = work()
    store.put_json(key, asdict(Receipt(expected, access.inputs, dict(access.writes), result)))
    return result, False
