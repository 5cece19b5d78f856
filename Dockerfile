# The project image for Airflow components and the MLflow server in docker-compose.
FROM apache/airflow:3.3.2-python3.12
USER root
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
USER airflow
WORKDIR /opt/kisa
COPY --chown=airflow pyproject.toml uv.lock README.md ./
COPY --chown=airflow kisa_tasks ./kisa_tasks
# Install the locked stack into Airflow's own interpreter environment.
RUN uv export --locked --no-dev --no-hashes -o /tmp/requirements.txt \
 && uv pip install --python "$(command -v python)" -r /tmp/requirements.txt \
 && uv pip install --python "$(command -v python)" --no-deps -e .
COPY --chown=airflow dags ./dags
COPY --chown=airflow plugins ./plugins
COPY --chown=airflow sql ./sql
