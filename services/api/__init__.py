"""The HTTP API of crmio (FastAPI): uploads, previews, jobs, templates, live progress, health and metrics."""

from services.api.app import create_app
from services.api.server import server_config

__all__ = ["create_app", "server_config"]
