# syntax=docker/dockerfile:1
# Build stage: install SBT and its runtime dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install .

# Runtime stage: non-root, migrations then uvicorn (both done by `sbt serve`).
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SBT_DATA_DIR=/var/lib/sbt SBT_ENVIRONMENT=production SBT_PROJECT_ROOT=/srv/sbt
RUN useradd --system --uid 10001 --home-dir /var/lib/sbt --create-home sbt
WORKDIR /srv/sbt
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
USER sbt
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready')"
# Production needs SBT_DATABASE_URL (PostgreSQL) and SBT_SECRET_KEY; the service refuses placeholder secrets.
CMD ["sbt", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
