"""The review app: a FastAPI app the Airflow 3 plugin mounts at ``/kisa``.

Airflow does not authenticate plugin apps, so every route here asks
Airflow's own auth for the user (``get_user``: a Bearer token or the UI's
``_token`` cookie, validated by the configured auth manager). A page
request without a valid session is sent to Airflow's login and back; any
other request gets 401/403. A state-changing POST must also come from this
origin, and a QA decision (it changes what later stages train on) needs
Airflow's permission to edit ``kisa_pipeline``: a Viewer reads every page
and gets 403 there. What does not exist is a 404 page, never a stack trace.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles

from kisa_tasks.artefacts import ArtefactStore, InvalidKeyError
from kisa_tasks.review import data, pages
from kisa_tasks.vocabulary import STRATEGIES

STATIC = Path(__file__).parent / "static"
# Data Docs are files on S3 served on Airflow's origin: sandboxed (no script
# runs, the page has no origin, so no Airflow cookie or API), nothing loaded
# from elsewhere, and never sniffed into another type (an SVG or text file
# stays inert).
DOCS_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
DEFAULT_DAG = "kisa_pipeline"
StoreFactory = Callable[[], ArtefactStore]


def _default_store() -> ArtefactStore:
    from kisa_tasks.settings import load_settings

    return ArtefactStore.from_settings(load_settings())


@dataclass(frozen=True)
class Reviewer:
    """Who is asking, and whether Airflow lets them edit ``kisa_pipeline``."""

    name: str
    may_decide: bool


async def airflow_reviewer(request: Request) -> Reviewer:
    """The Airflow user, or HTTPException (401/403) from Airflow's auth."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security.utils import get_authorization_scheme_param

    # Called outside FastAPI's injection: hand it the Bearer header ourselves.
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    user = await get_user(request, None, bearer)
    may_decide = get_auth_manager().is_authorized_dag(
        method="PUT", user=user, details=DagDetails(id=DEFAULT_DAG)
    )
    return Reviewer(str(user.get_name()), bool(may_decide))


def current_user(request: Request) -> str:
    """The user ``require_session`` authenticated for this request."""
    return str(request.state.kisa_user.name)


def deciding_user(request: Request) -> str:
    """The user, if Airflow lets them edit the pipeline; else 403."""
    reviewer: Reviewer = request.state.kisa_user
    if not reviewer.may_decide:
        raise HTTPException(
            403,
            f"{reviewer.name} may read but not decide: accepting or rejecting QA items "
            f"needs permission to edit {DEFAULT_DAG} (Airflow role User or above)",
        )
    return reviewer.name


User = Annotated[str, Depends(current_user)]
Decider = Annotated[str, Depends(deciding_user)]


def create_app(
    store_factory: StoreFactory = _default_store,
    authenticate: Callable[[Request], Awaitable[Reviewer]] = airflow_reviewer,
) -> FastAPI:
    app = FastAPI(title="KISA review", docs_url=None, redoc_url=None, openapi_url=None)
    store_cache: dict[str, ArtefactStore] = {}

    def store() -> ArtefactStore:
        if "store" not in store_cache:
            store_cache["store"] = store_factory()
        return store_cache["store"]

    @app.middleware("http")
    async def require_session(request: Request, call_next: Any) -> Response:
        # Static files are public (a vendored D3 and our graph script); all else needs a user.
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/"):
            return await call_next(request)  # type: ignore[no-any-return]
        try:
            request.state.kisa_user = await authenticate(request)
        except HTTPException as exc:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse(_login_url(str(request.url)), status_code=303)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if request.method == "POST" and not _same_origin(request):
            return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        return await call_next(request)  # type: ignore[no-any-return]

    @app.exception_handler(data.NotFound)
    async def not_found(request: Request, exc: data.NotFound) -> HTMLResponse:
        return HTMLResponse(pages.not_found(str(exc)), status_code=404)

    @app.exception_handler(InvalidKeyError)
    async def bad_key(request: Request, exc: InvalidKeyError) -> HTMLResponse:
        return HTMLResponse(pages.not_found(f"no such page: {exc}"), status_code=404)

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> HTMLResponse:
        return HTMLResponse(pages.not_found(f"no page at {request.url.path}"), status_code=404)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=RedirectResponse)
    def home() -> RedirectResponse:
        return RedirectResponse(pages.url("quality"), status_code=303)

    # -- data quality --------------------------------------------------------------------
    @app.get("/quality", response_class=HTMLResponse)
    def quality(user: User, dag_id: str = DEFAULT_DAG) -> str:
        return pages.quality_index(dag_id, data.quality_runs(store(), dag_id), user)

    @app.get("/quality/{dag_id}/{run_id}", response_class=HTMLResponse)
    def quality_run(dag_id: str, run_id: str, user: User) -> str:
        summaries = data.run_quality(store(), dag_id, run_id)
        manifest = data.manifest(store(), dag_id, run_id)
        if not summaries and manifest is None:
            raise data.NotFound(f"no DAG run {run_id!r} of {dag_id!r}")
        mlflow = manifest.get("mlflow_run_url") if manifest else None
        return pages.quality_run(dag_id, run_id, summaries, mlflow, user)

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_tab(dag_id: str, run_id: str, user: User) -> str:
        """The tab on Airflow's DAG-run page: this run's gates and its MLflow run."""
        return quality_run(dag_id, run_id, user)

    @app.get("/docs/{dag_id}/{run_id}/{suite}/{path:path}")
    def docs(dag_id: str, run_id: str, suite: str, path: str, user: User) -> Response:
        body = data.docs_file(store(), dag_id, run_id, suite, path)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(body, media_type=kind, headers=DOCS_HEADERS)

    # -- knowledge graph --------------------------------------------------------------------
    @app.get("/graph", response_class=HTMLResponse)
    def graph_runs(user: User) -> str:
        runs = data.runs_of(store(), "subgraphs")
        return pages.run_picker("sub-graphs", runs, "graph", user, "Knowledge graph")

    @app.get("/graph/{specialty}/{run_id}", response_class=HTMLResponse)
    def graph_seeds(specialty: str, run_id: str, user: User) -> str:
        rows = data.read_rows(store(), "subgraphs", specialty, run_id)
        return pages.graph_index(specialty, run_id, rows, user)

    def view(specialty: str, run_id: str, seed: str) -> dict[str, Any]:
        row = data.subgraph(store(), specialty, run_id, seed)
        return data.graph_view(row, data.evidence(store(), specialty, run_id, seed))

    @app.get("/graph/{specialty}/{run_id}/{seed}", response_class=HTMLResponse)
    def graph(specialty: str, run_id: str, seed: str, user: User) -> str:
        return pages.graph_page(view(specialty, run_id, seed), specialty, run_id, user)

    @app.get("/api/graph/{specialty}/{run_id}/{seed}")
    def graph_json(specialty: str, run_id: str, seed: str, user: User) -> dict[str, Any]:
        return view(specialty, run_id, seed)

    # -- QA review ---------------------------------------------------------------------------
    @app.get("/qa", response_class=HTMLResponse)
    def qa_runs(user: User) -> str:
        return pages.run_picker("QA items", data.runs_of(store(), "qa"), "qa", user, "QA review")

    @app.get("/qa/{specialty}/{run_id}", response_class=HTMLResponse)
    def qa(specialty: str, run_id: str, user: User, strategy: str = "", hops: str = "") -> str:
        items = data.read_rows(store(), "qa", specialty, run_id)
        if strategy:
            items = [i for i in items if i["strategy"] == strategy]
        if hops.isdigit():
            items = [i for i in items if i["hops"] >= int(hops)]
        decided = data.decisions(store(), specialty)
        filters = {"strategy": strategy, "hops": hops}
        rates = data.agent_difficulty(store(), specialty, run_id)
        hops_seen = data.hop_evidence(store(), specialty, run_id, items)
        return pages.qa_page(
            specialty, run_id, items, decided, filters, STRATEGIES, user, rates, hops_seen
        )

    @app.post("/qa/{specialty}/{qa_id}/review")
    def review(
        specialty: str,
        qa_id: str,
        user: Decider,
        decision: Annotated[str, Form()],
        run: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        if decision not in data.DECISIONS:
            raise HTTPException(422, f"decision must be one of {data.DECISIONS}")
        data.save_decision(store(), specialty, qa_id, decision, note, user)
        back = pages.url("qa", specialty, run) if run else pages.url("qa")
        return RedirectResponse(back, status_code=303)

    # -- trajectories -----------------------------------------------------------------------
    @app.get("/trajectories", response_class=HTMLResponse)
    def trajectory_runs(user: User) -> str:
        runs = data.runs_of(store(), "trajectories")
        return pages.run_picker("trajectories", runs, "qa", user, "Trajectories: pick a QA run")

    @app.get("/trajectories/{specialty}/{run_id}/{qa_id}", response_class=HTMLResponse)
    def trajectory(specialty: str, run_id: str, qa_id: str, user: User) -> str:
        rollouts = data.trajectories_for(store(), specialty, run_id, qa_id)
        items = {i["qa_id"]: i for i in data.read_rows(store(), "qa", specialty, run_id)}
        return pages.trajectories_page(items.get(qa_id), rollouts, user)

    return app


def _login_url(next_url: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return str(get_auth_manager().get_url_login(next_url=next_url))


def _same_origin(request: Request) -> bool:
    """A form post from this server's own pages (Origin, else Referer)."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    here = f"{request.url.scheme}://{request.url.netloc}"
    return origin == here or origin.startswith(here + "/")
