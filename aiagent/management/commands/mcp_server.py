"""``python manage.py mcp_server --token <api token>``: the AI tools over MCP on stdio."""

from __future__ import annotations

import logging
import os
import sys

import anyio
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Serve PipeCRM's AI tool registry as an MCP server over stdio, acting as the user of "
        "the given API token (POST /api/v1/auth/token/ gives one)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--token",
            default=os.environ.get("PIPECRM_API_TOKEN", ""),
            help="The user's API token (or set PIPECRM_API_TOKEN).",
        )

    def handle(self, *args, token: str, **options) -> None:
        from aiagent.mcp_server import serve_stdio

        if not token:
            raise CommandError("Give an API token: --token <token> (or PIPECRM_API_TOKEN).")
        from crm.tokens import user_for_key

        found = user_for_key(token)
        if found is None:
            raise CommandError(
                "Unknown API token (revoked, or made before a password change), or its user "
                "is inactive."
            )
        user, _ = found
        # stdout carries the protocol: every log line goes to stderr.
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True)
        anyio.run(serve_stdio, user)
