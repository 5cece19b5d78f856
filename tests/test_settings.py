import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kisa_tasks.settings import SettingsError, load_settings, overrides_from_connections


def test_env_vars_use_nested_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KISA_S3__BUCKET", "artefacts")
    monkeypatch.setenv("KISA_S3__ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("KISA_LLM__BASE_URL", "http://vllm:8000/v1")
    s = load_settings(home=tmp_path)
    assert s.s3.bucket == "artefacts"
    assert s.s3.endpoint_url == "http://minio:9000"
    assert s.llm.base_url == "http://vllm:8000/v1"


def test_env_beats_endpoints_file_which_beats_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "endpoints.json").write_text(
        json.dumps(
            {
                "s3": {"endpoint_url": "http://127.0.0.1:1111", "access_key_id": "kisa"},
                "mlflow": {"tracking_uri": "http://127.0.0.1:2222"},
            }
        )
    )
    monkeypatch.setenv("KISA_HOME", str(tmp_path))
    monkeypatch.setenv("KISA_MLFLOW__TRACKING_URI", "http://mlflow.prod:5000")
    s = load_settings()
    assert s.s3.endpoint_url == "http://127.0.0.1:1111"
    assert s.s3.access_key_id == "kisa"
    assert s.s3.bucket == "kisa"  # default kept beside file values
    assert s.mlflow_uri() == "http://mlflow.prod:5000"


def test_invalid_value_names_variable_and_accepted_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KISA_GRAPH__BACKEND", "memgraph")
    with pytest.raises(SettingsError) as err:
        load_settings(home=tmp_path)
    assert "KISA_GRAPH__BACKEND" in str(err.value)
    assert "'falkordb' or 'neo4j'" in str(err.value)


def test_neo4j_backend_requires_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KISA_GRAPH__BACKEND", "neo4j")
    with pytest.raises(SettingsError, match="KISA_NEO4J__URI"):
        load_settings(home=tmp_path)


def test_missing_endpoint_is_named_when_needed(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path)
    with pytest.raises(SettingsError, match=r"KISA_MLFLOW__TRACKING_URI.*kisa services up"):
        s.mlflow_uri()


def test_secrets_do_not_leak_into_repr(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, s3={"secret_access_key": "very-secret-value"})
    assert "very-secret-value" not in repr(s)
    assert "very-secret-value" not in str(s.model_dump())


def _conn(**kw: object) -> SimpleNamespace:
    base = {"host": None, "port": None, "login": None, "password": None, "schema": None}
    base.update(kw)
    base.setdefault("extra_dejson", {})
    return SimpleNamespace(**base)


def test_airflow_connections_map_onto_settings(tmp_path: Path) -> None:
    overrides = overrides_from_connections(
        {
            "kisa_s3": _conn(
                login="AKIA",
                password="s3cret",
                extra_dejson={"endpoint_url": "http://minio:9000", "bucket": "prod"},
            ),
            "kisa_neo4j": _conn(host="neo4j", port=7687, login="neo4j", password="pw"),
            "kisa_llm": _conn(
                host="http://vllm:8000/v1", password="k", extra_dejson={"model": "m"}
            ),
            "kisa_mlflow": _conn(host="http://mlflow:5000"),
        }
    )
    s = load_settings(home=tmp_path, **overrides)
    assert s.graph.backend == "neo4j"
    assert s.neo4j.uri == "bolt://neo4j:7687"
    assert s.s3.bucket == "prod" and s.s3.access_key_id == "AKIA"
    assert s.s3.secret_access_key is not None
    assert s.s3.secret_access_key.get_secret_value() == "s3cret"
    assert s.llm.model == "m"
    assert s.mlflow_uri() == "http://mlflow:5000"


def test_airflow_logins_are_generated_per_installation_and_kept_private(tmp_path: Path) -> None:
    import stat

    from kisa_tasks.services.airflow_local import (
        airflow_env,
        password_file,
        ui_password,
        write_passwords_file,
    )

    settings = load_settings(home=tmp_path, airflow={"users": {"ana": "viewer"}})
    path = write_passwords_file(settings)
    stored = json.loads(path.read_text())
    assert {"admin", "ana"} <= set(stored)
    assert (
        stored["admin"] != "admin"
        and len(stored["admin"]) >= 32
        and stored["ana"] != stored["admin"]
    )
    for secret in (path, password_file(settings, "admin"), password_file(settings, "ana")):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert json.loads(write_passwords_file(settings).read_text()) == stored  # kept, not renewed
    users = airflow_env(settings, 8080, 8793)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert {"ana:viewer", "admin:admin"} <= set(users.split(","))
    chosen = load_settings(home=tmp_path, airflow={"admin_password": "chosen-by-the-operator"})
    assert ui_password(chosen, "admin") == "chosen-by-the-operator"
    with pytest.raises(SettingsError, match="KISA_AIRFLOW__USERS"):
        load_settings(home=tmp_path, airflow={"users": {"../etc": "viewer"}})
