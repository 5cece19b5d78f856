# One project image, two bases, one lock (uv.lock):
#   platform: Airflow's components, the MLflow server, the Ray head and the
#             CPU tools (model-sync), on the Airflow base image;
#   gpu:      the Ray GPU worker, on a CUDA base, with the same locked stack.
# docker compose builds both (docker-compose.yaml).

FROM apache/airflow:3.3.2-python3.12 AS platform
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
COPY --chown=airflow training_jobs ./training_jobs

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS gpu
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PROJECT_ENVIRONMENT=/opt/kisa/.venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/kisa/.venv/bin:$PATH
WORKDIR /opt/kisa
COPY pyproject.toml uv.lock README.md ./
COPY kisa_tasks ./kisa_tasks
# The same lock as the platform image: the jobs the head hands out import
# exactly the versions the DAGs were tested with.
RUN uv python install 3.12 && uv sync --locked --no-dev --python 3.12
COPY training_jobs ./training_jobs
