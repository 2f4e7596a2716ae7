"""ASGI entry point for uvicorn: ``uvicorn app.asgi:app``."""

from app.core.config import ConfigurationError
from app.core.heap import tune_collector
from app.main import create_app

try:
    app = create_app()
except ConfigurationError as error:
    # One line per problem, each naming its SBT_* variable, instead of an import traceback from the server.
    raise SystemExit(str(error)) from None

tune_collector()
