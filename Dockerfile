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
    SBT_DATA_DIR=/var/lib/sbt SBT_KEY_DIR=/var/lib/sbt/keys SBT_ENVIRONMENT=production SBT_PROJECT_ROOT=/srv/sbt
RUN useradd --system --uid 10001 --home-dir /var/lib/sbt --create-home sbt \
    && install -d -o sbt -g sbt -m 0700 /var/lib/sbt/keys
WORKDIR /srv/sbt
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
USER sbt
# The signing keys (ledger checkpoints, OAuth tokens) live here: mount one volume shared by every replica, or the
# published verifier key changes with each new container and every token dies. SBT_KEY_DIR may point elsewhere.
VOLUME ["/var/lib/sbt"]
EXPOSE 8000
# start-period: the first start migrates the database (replicas queue on a lock) before /ready answers.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"
# Production refuses to start, one line per problem, without SBT_DATABASE_URL (PostgreSQL), SBT_SECRET_KEY
# (32+ characters) and SBT_AUTH_ISSUER (the public https:// URL).
CMD ["sbt", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
