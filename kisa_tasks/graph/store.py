"""One graph-store interface, two backends: FalkorDB (embedded default) and Neo4j.

Both run the same Cypher files (the subset common to both); only the schema
statements differ per backend. Results come back as plain dicts.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kisa_tasks.graph.cypher import load_cypher, render, statements
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)
Row = dict[str, Any]


class GraphStoreUnavailableError(ConnectionError):
    """The graph server does not answer (down, or gone mid-run). Writes are
    MERGEs, so rerunning the task after fixing it duplicates nothing."""


class GraphQueryTimeoutError(TimeoutError):
    """A query ran past its time budget; the server is fine."""


class GraphStore(ABC):
    backend: str
    endpoint: str = "?"

    def __init__(self, name: str, timeout_ms: int) -> None:
        self.name = name
        self.timeout_ms = timeout_ms

    def _unavailable(self, exc: BaseException) -> GraphStoreUnavailableError:
        return GraphStoreUnavailableError(
            f"graph store {self.backend} at {self.endpoint} is not answering "
            f"({type(exc).__name__}: {exc}); start it (`kisa services up graph`) or fix "
            "KISA_GRAPH__BACKEND / KISA_FALKORDB__* / KISA_NEO4J__*, then rerun the task: "
            "writes are MERGEs, so nothing is duplicated"
        )

    def run(
        self,
        cypher_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        literals: Mapping[str, int] | None = None,
        timeout_ms: int | None = None,
    ) -> list[Row]:
        """Run a named Cypher file with parameters."""
        text = render(load_cypher(cypher_name), literals)
        budget = timeout_ms or self.timeout_ms
        try:
            return self._execute(text, dict(params or {}), budget)
        except self._connection_errors() as exc:
            raise self._unavailable(exc) from exc
        except Exception as exc:
            if self._timed_out(exc):
                raise GraphQueryTimeoutError(
                    f"{cypher_name} ran past its {budget} ms budget on {self.backend} ({exc})"
                ) from exc
            raise

    @abstractmethod
    def _connection_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exceptions that mean the server is unreachable."""

    @abstractmethod
    def _timed_out(self, exc: Exception) -> bool:
        """Whether the driver's error says the query ran past its timeout."""

    def run_batches(
        self, cypher_name: str, rows: Iterable[Mapping[str, Any]], batch_size: int = 500
    ) -> int:
        """Feed ``rows`` to an ``UNWIND $rows`` file in batches; returns rows sent."""
        batch: list[Mapping[str, Any]] = []
        sent = 0
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                self.run(cypher_name, {"rows": batch})
                sent += len(batch)
                batch = []
        if batch:
            self.run(cypher_name, {"rows": batch})
            sent += len(batch)
        return sent

    def ensure_schema(self) -> None:
        for stmt in statements(load_cypher(f"schema/{self.backend}")):
            self._apply_schema(stmt)

    def ping(self) -> bool:
        return self.run("ping") == [{"ok": 1}]

    @abstractmethod
    def _execute(self, text: str, params: dict[str, Any], timeout_ms: int) -> list[Row]: ...

    @abstractmethod
    def _apply_schema(self, statement: str) -> None: ...

    @abstractmethod
    def clear(self) -> None:
        """Delete every node and relation of this graph."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FalkorDBStore(GraphStore):
    backend = "falkordb"

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        password: str | None,
        timeout_ms: int,
    ) -> None:
        super().__init__(name, timeout_ms)
        from falkordb import FalkorDB

        self.endpoint = f"{host}:{port}"
        try:  # the client talks to the server as soon as it is built
            self._db = FalkorDB(host=host, port=port, password=password)
        except self._connection_errors() as exc:
            raise self._unavailable(exc) from exc
        self._graph = self._db.select_graph(name)

    def _connection_errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.exceptions.ConnectionError, ConnectionError)

    def _timed_out(self, exc: Exception) -> bool:
        import redis

        # FalkorDB answers "Query timed out" as a plain Redis error reply.
        return isinstance(exc, redis.exceptions.ResponseError) and "timed out" in str(exc).lower()

    def _execute(self, text: str, params: dict[str, Any], timeout_ms: int) -> list[Row]:
        result = self._graph.query(text, params, timeout=timeout_ms)
        names = [col[1] if isinstance(col, list | tuple) else col for col in result.header]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        return [dict(zip(names, map(_plain, row), strict=True)) for row in result.result_set]

    def _apply_schema(self, statement: str) -> None:
        try:
            self._graph.query(statement)
        except Exception as exc:  # falkordb raises a bare ResponseError
            if "already indexed" not in str(exc):
                raise

    def clear(self) -> None:
        self._graph.query("MATCH (n) DETACH DELETE n")

    def close(self) -> None:
        self._db.connection.close()


class Neo4jStore(GraphStore):
    """Thin: Neo4j cannot run on the embedded machines, so this backend stays a
    direct use of the official driver, checked in production and compose."""

    backend = "neo4j"

    def __init__(
        self, name: str, uri: str, user: str, password: str | None, timeout_ms: int
    ) -> None:
        super().__init__(name, timeout_ms)
        import neo4j

        self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, password or ""))
        self.endpoint = uri

    def _connection_errors(self) -> tuple[type[BaseException], ...]:
        import neo4j.exceptions

        return (neo4j.exceptions.ServiceUnavailable, ConnectionError)

    def _timed_out(self, exc: Exception) -> bool:
        import neo4j.exceptions

        # Neo.ClientError.Transaction.TransactionTimedOut(ClientConfiguration)
        code = getattr(exc, "code", None) or ""
        return isinstance(exc, neo4j.exceptions.Neo4jError) and "TimedOut" in code

    def _execute(self, text: str, params: dict[str, Any], timeout_ms: int) -> list[Row]:
        import neo4j

        query = neo4j.Query(text, timeout=timeout_ms / 1000)
        records, _, _ = self._driver.execute_query(query, params, database_=self.name)
        return [{k: _plain(v) for k, v in rec.data().items()} for rec in records]

    def _apply_schema(self, statement: str) -> None:
        self._driver.execute_query(statement, database_=self.name)

    def clear(self) -> None:
        self._driver.execute_query("MATCH (n) DETACH DELETE n", database_=self.name)

    def close(self) -> None:
        self._driver.close()


def _plain(value: Any) -> Any:
    """Nodes and relations become their property dicts; lists recurse."""
    if isinstance(value, list | tuple):
        if all(isinstance(v, str | int | float) for v in value):
            return list(value)  # a column of scalars: nothing to convert one by one
        return [_plain(v) for v in value]
    props = getattr(value, "properties", None)  # FalkorDB Node / Edge
    if isinstance(props, dict):
        return dict(props)
    if isinstance(value, Mapping):  # neo4j Node / Relationship are Mappings
        return dict(value)
    return value


def open_graph_store(settings: KisaSettings) -> GraphStore:
    g = settings.graph
    if g.backend == "neo4j":
        uri = settings.require(settings.neo4j.uri, "KISA_NEO4J__URI", "bolt://host:7687")
        pw = settings.neo4j.password
        return Neo4jStore(
            g.name,
            uri,
            settings.neo4j.user,
            pw.get_secret_value() if pw else None,
            g.query_timeout_ms,
        )
    pw = settings.falkordb.password
    return FalkorDBStore(
        g.name,
        settings.falkordb.host,
        settings.falkordb_port(),
        pw.get_secret_value() if pw else None,
        g.query_timeout_ms,
    )


__all__: Sequence[str] = [
    "FalkorDBStore",
    "GraphStore",
    "GraphStoreUnavailableError",
    "Neo4jStore",
    "open_graph_store",
]
