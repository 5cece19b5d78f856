"""HTML of the review pages: pure functions of what ``review.data`` read.

Every value from the data goes through ``e`` (HTML escaping); graph data
reaches the page as JSON in a ``<script type="application/json">`` block,
escaped so no ``</script>`` in a sentence can end it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

PREFIX = "/kisa"
NAV = (
    ("quality", "Data quality"),
    ("graph", "Knowledge graph"),
    ("qa", "QA review"),
    ("trajectories", "Trajectories"),
)
STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#017cee;color:#fff;padding:.6rem 1rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none}header a.on{font-weight:700;text-decoration:underline}
main{padding:1rem 1.4rem}table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #d8dde3;padding:.35rem .5rem;text-align:left;vertical-align:top;
font-size:.9rem}
th{background:#eef1f4}.pass{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}
.warn{color:#a05a00;font-weight:600}.muted{color:#5f6b7a}.cols{display:flex;gap:1rem}
.cols>section{flex:1;min-width:0}.step{background:#fff;border:1px solid #d8dde3;margin:.4rem 0;
padding:.5rem;white-space:pre-wrap;font-size:.85rem;overflow-wrap:anywhere}
.step.assistant{border-left:4px solid #017cee}.step.user{border-left:4px solid #9aa5b1}
form.inline{display:inline}svg{background:#fff;border:1px solid #d8dde3}
#details{background:#fff;border:1px solid #d8dde3;padding:.5rem;min-height:3rem}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def url(*parts: str, **query: Any) -> str:
    path = PREFIX + "/" + "/".join(quote(str(p), safe="") for p in parts)
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return path + ("?" + urlencode(given) if given else "")


def web_link(value: str) -> bool:
    """Whether ``value`` may be an ``href`` from data: http(s) with a host only
    (``javascript:`` or ``data:`` in a manifest on S3 would run on our origin).

    >>> web_link("http://127.0.0.1:5000/#/runs/r1"), web_link("javascript:alert(1)")
    (True, False)
    """
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def layout(title: str, body: str, active: str = "", user: str = "") -> str:
    links = " ".join(
        f'<a href="{url(key)}" class="{"on" if key == active else ""}">{label}</a>'
        for key, label in NAV
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} - KISA'
        f"</title><style>{STYLE}</style></head><body><header><strong>KISA</strong>{links}"
        f'<span class="muted" style="margin-left:auto;color:#dbe9ff">{e(user)}</span></header>'
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def not_found(message: str) -> str:
    return layout("Not found", f"<p>{e(message)}</p><p><a href='{url('quality')}'>Back</a></p>")


def verdict(passed: bool | None) -> str:
    if passed is None:
        return '<span class="muted">not run</span>'
    return '<span class="pass">passed</span>' if passed else '<span class="fail">FAILED</span>'


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells are HTML already (callers escape values)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


# -- data quality ---------------------------------------------------------------------------
def quality_index(dag_id: str, runs: Mapping[str, Sequence[Mapping[str, Any]]], user: str) -> str:
    rows = []
    for run_id, summaries in runs.items():
        suites = " ".join(
            f"{e(s['suite'])}: {verdict(s['passed'])}"
            + (
                f' <span class="warn">({s["failed_warning"]} warn)</span>'
                if s["failed_warning"]
                else ""
            )
            for s in summaries
        )
        specialty = summaries[0].get("specialty", "") if summaries else ""
        rows.append([f'<a href="{url("quality", dag_id, run_id)}">{e(run_id)}</a>', e(specialty),
                     verdict(all(s["passed"] for s in summaries)), suites])  # fmt: skip
    body = (
        table(["DAG run", "specialty", "gates", "suites"], rows)
        if rows
        else "<p>No validation has run yet: trigger <code>kisa_pipeline</code>.</p>"
    )
    return layout(f"Data quality: {dag_id}", body, "quality", user)


def _warned(summary: Mapping[str, Any]) -> str:
    count = summary["failed_warning"]
    return f' <span class="warn">({count} warn)</span>' if count else ""


def _result(check: Mapping[str, Any]) -> str:
    if check["success"]:
        return '<span class="pass">ok</span>'
    return f'<span class="{"fail" if check["severity"] == "critical" else "warn"}">failed</span>'


def quality_run(
    dag_id: str,
    run_id: str,
    summaries: Sequence[Mapping[str, Any]],
    mlflow_url: str | None,
    user: str,
) -> str:
    parts = [f"<p>DAG run <code>{e(run_id)}</code>"]
    if mlflow_url and web_link(mlflow_url):
        parts.append(f' · <a href="{e(mlflow_url)}" target="_blank" rel="noopener">MLflow run</a>')
    parts.append("</p>")
    for s in summaries:
        page = s.get("docs_page") or "index.html"
        report = url("docs", dag_id, run_id, s["suite"]) + "/" + quote(page)
        parts.append(
            f'<h2 id="{e(s["suite"])}">{e(s["suite"])} {verdict(s["passed"])}</h2>'
            f'<p class="muted">gate after <b>{e(s["stage"])}</b>, {e(s["rows"])} rows, '
            f"{e(s['evaluated'])} expectations, validated {e(s.get('validated_at'))} · "
            f'<a href="{e(report)}">Data Docs report</a></p>'
        )
        rows = [
            [
                _result(c),
                e(c["severity"]), e(c["expectation"]), e(c["column"] or ""),
                e(c.get("error") or _observed(c)), e(c.get("why", "")),
            ]
            for c in s["checks"]
        ]  # fmt: skip
        parts.append(
            table(["result", "severity", "expectation", "column", "observed", "why"], rows)
        )
    if not summaries:
        parts.append("<p>No gate has run for this DAG run yet.</p>")
    return layout("Data quality report", "".join(parts), "quality", user)


def _observed(check: Mapping[str, Any]) -> str:
    if check.get("unexpected_count"):
        return f"{check['unexpected_count']} unexpected, e.g. {check.get('unexpected_sample')}"
    observed = check.get("observed")
    return "" if observed is None else json.dumps(observed)[:200]


# -- knowledge graph --------------------------------------------------------------------------
def graph_index(specialty: str, run_id: str, seeds: Sequence[Mapping[str, Any]], user: str) -> str:
    rows = [
        [f'<a href="{url("graph", specialty, run_id, s["seed"])}">{e(s["seed_name"])}</a>',
         f"<code>{e(s['seed'])}</code>", e(s["hops"]), e(len(s["nodes"])), e(len(s["edges"]))]
        for s in seeds
    ]  # fmt: skip
    body = f"<p>{e(specialty)}, run <code>{e(run_id)}</code>: choose a seed.</p>" + table(
        ["seed", "id", "path hops", "nodes", "relations"], rows
    )
    return layout("Knowledge graph", body, "graph", user)


def run_picker(stage: str, partitions: Sequence[Any], page: str, user: str, title: str) -> str:
    rows = [
        [f'<a href="{url(page, p.specialty, p.run)}">{e(p.run)}</a>', e(p.specialty)]
        for p in reversed(partitions)
    ]
    body = table(["run", "specialty"], rows) if rows else f"<p>No committed {stage} yet.</p>"
    return layout(title, body, page, user)


def graph_page(view: Mapping[str, Any], specialty: str, run_id: str, user: str) -> str:
    data = json.dumps(view).replace("<", "\\u003c")
    body = (
        f"<p>Seed <b>{e(view['seed_name'])}</b> (<code>{e(view['seed'])}</code>), {e(specialty)}, "
        f"run <code>{e(run_id)}</code>: {len(view['nodes'])} entities, {len(view['links'])} "
        f"relations; the longest path ({e(view['hops'])} hops) in red.</p>"
        '<svg id="graph" width="960" height="600" role="img" aria-label="sub-graph"></svg>'
        '<div id="details">Click an entity or a relation for its details and evidence.</div>'
        f'<script id="graph-data" type="application/json">{data}</script>'
        f'<script src="{PREFIX}/static/d3.v7.9.0.min.js"></script>'
        f'<script src="{PREFIX}/static/graph.js"></script>'
    )
    return layout("Knowledge graph", body, "graph", user)


# -- QA review ---------------------------------------------------------------------------------
def qa_page(
    specialty: str,
    run_id: str,
    items: Sequence[Mapping[str, Any]],
    decided: Mapping[str, Any],
    filters: Mapping[str, str],
    strategies: Sequence[str],
    user: str,
    pass_rates: Mapping[str, float] | None = None,
    hop_evidence: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> str:
    chosen = filters.get("strategy")
    options = "".join(
        f'<option value="{e(s)}"{" selected" if chosen == s else ""}>{e(s)}</option>'
        for s in ["", *strategies]
    )
    form = (
        f'<form method="get" action="{url("qa", specialty, run_id)}">strategy '
        f'<select name="strategy">{options}</select> min hops '
        f'<input name="hops" type="number" min="0" value="{e(filters.get("hops", ""))}"> '
        '<button type="submit">Filter</button></form>'
    )
    rows = []
    for item in items:
        decision = decided.get(item["qa_id"])
        state = (
            f'<span class="{"pass" if decision.decision == "accept" else "fail"}">'
            f"{e(decision.decision)}ed</span> by {e(decision.reviewer)}: {e(decision.note)}"
            if decision
            else '<span class="muted">not reviewed</span>'
        )
        mapping = "<br>".join(
            f"{e(m['placeholder'])} = {e(m['value'])}" for m in item["entity_mapping"]
        )
        review = (
            f'<form class="inline review" method="post" '
            f'action="{url("qa", specialty, item["qa_id"], "review")}">'
            f'<input type="hidden" name="run" value="{e(run_id)}">'
            '<input name="note" placeholder="note" size="14"> '
            '<button name="decision" value="accept">Accept</button> '
            '<button name="decision" value="reject">Reject</button></form>'
        )
        traj = url("trajectories", specialty, run_id, item["qa_id"])
        rows.append([
            f'<span data-qa-id="{e(item["qa_id"])}">{e(item["question"])}</span>'
            f'<br><a href="{traj}">trajectories</a>',
            f"<b>{e(item['answer'])}</b>", f"<small>{e(item['reasoning_path'])}</small>",
            f"<small>{mapping}</small>",
            _hops(item, (hop_evidence or {}).get(item["qa_id"], ())),
            e(item["solver_accuracy"]), _agent_pass(item, pass_rates or {}),
            f'{e(item.get("question_type") or "")}<br><small>{e(item.get("split") or "")}</small>',
            e(item["strategy"]), e(item["hops"]),
            f'<span class="decision">{state}</span><br>{review}',
        ])  # fmt: skip
    head = ["question", "answer", "reasoning path", "mapping", "hops and evidence",
            "solver accuracy",
            "agent pass rate", "type / split", "strategy", "hops", "review"]  # fmt: skip
    body = (
        f"<p>{e(specialty)}, run <code>{e(run_id)}</code>: {len(items)} items. A rejected item "
        "is left out of later stages' runs (rollouts, SFT).</p>" + form + table(head, rows)
    )
    return layout("QA review", body, "qa", user)


PUBMED = "https://pubmed.ncbi.nlm.nih.gov/{}/"


def _hops(item: Mapping[str, Any], hops: Sequence[Mapping[str, Any]]) -> str:
    """Each hop's relation, its confidence and the sentences it stands on,
    with PMID links: what a reviewer checks the path against."""
    weakest = item.get("min_hop_confidence")
    parts = [f"<small>weakest hop: {e(weakest) if weakest is not None else 'unknown'}</small>"]
    for i, hop in enumerate(hops, start=1):
        if not hop["relations"]:
            parts.append(f'<div class="hop"><b>{i}.</b> <span class="fail">no triple</span></div>')
            continue
        for r in hop["relations"]:
            sentences = "".join(
                f'<li><a href="{e(PUBMED.format(ev["pmid"]))}">PMID {e(ev["pmid"])}</a>: '
                f"{e(ev['sentence'])}</li>"
                for ev in r["evidence"]
            )
            parts.append(
                f'<div class="hop"><b>{i}.</b> {e(r["head"])} <i>{e(r["relation"])}</i> '
                f"{e(r['tail'])} <small>(confidence {e(r['confidence'])})</small>"
                f"<ul><small>{sentences}</small></ul></div>"
            )
    return "".join(parts)


def _agent_pass(item: Mapping[str, Any], pass_rates: Mapping[str, float]) -> str:
    if item.get("split") == "test":
        return '<span class="muted">test item: not rolled out</span>'
    rate = pass_rates.get(item["qa_id"])
    return e(rate) if rate is not None else '<span class="muted">-</span>'


# -- trajectories ------------------------------------------------------------------------------
def trajectory_column(rollout: Mapping[str, Any]) -> str:
    steps = "".join(
        f'<div class="step {e(m["role"])}"><b>{e(m["role"])}</b>\n{e(m["content"])}</div>'
        for m in rollout["messages"]
    )
    reason = f" · <span class='fail'>{e(rollout['reason'])}</span>" if rollout["reason"] else ""
    failed = rollout.get("failed_calls") or []
    failures = (
        f" · {len(failed)} failed call(s), {e(rollout.get('recovered', 0))} made again"
        if failed
        else ""
    )
    hints = (
        f"<details><summary>MTG hints (given to the rollout, never trained on)</summary>"
        f"<pre>{e(rollout['guidance'])}</pre></details>"
        if rollout.get("guidance")
        else ""
    )
    return (
        f"<section><h2>rollout {e(rollout.get('rollout', 0))} · {e(rollout['mode'])}</h2>"
        f"<p>policy {e(rollout['policy'])} · "
        f"{e(rollout['tool_calls'])} tool calls{failures} · ended "
        f"<b>{e(rollout['termination'])}</b> · "
        f"answer <b>{e(rollout['answer'])}</b> · "
        f"<span class='{'pass' if rollout['verdict'] == 'kept' else 'fail'}'>"
        f"{e(rollout['verdict'])}</span>{reason}</p>{hints}{steps}</section>"
    )


def trajectories_page(
    item: Mapping[str, Any] | None, rollouts: Sequence[Mapping[str, Any]], user: str
) -> str:
    head = ""
    if item is not None:
        head = (
            f"<p><b>Question:</b> {e(item['question'])}<br><b>Answer:</b> {e(item['answer'])}"
            f"<br><b>Reasoning path:</b> {e(item['reasoning_path'])}</p>"
        )
    modes = {r["mode"] for r in rollouts}
    missing = [m for m in ("guided", "explore") if m not in modes]
    rates = {(r.get("item_pass_rate"), r.get("explore_pass_rate")) for r in rollouts}
    note = "".join(
        f"<p>Agent difficulty: <b>{e(rate)}</b> of {len(rollouts)} rollouts passed"
        + (f" (explore: {e(explore)})" if explore is not None else "")
        + ".</p>"
        for rate, explore in rates
        if rate is not None
    )
    if missing and modes & {"guided", "explore"}:
        note += (
            f"<p class='muted'>No {' or '.join(missing)} rollout for this item (its rollouts "
            "are spread over the modes at the 7:3 share).</p>"
        )
    columns = "".join(trajectory_column(r) for r in rollouts)
    return layout(
        "Trajectory", head + note + f'<div class="cols">{columns}</div>', "trajectories", user
    )
