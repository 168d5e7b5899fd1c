"""The MCP server: ``manage.py mcp_server --token …`` over stdio, spoken to by the ``mcp``
client in a subprocess that shares the test database."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from aiagent.models import Conversation, Proposal, ToolCall
from crm.models import AuditLog
from crm.tokens import token_create
from tests.aiagent.factories import make_lead

BASE_DIR = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, for the subprocess (a file for SQLite, a name for PostgreSQL)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


async def session_calls(token: str, calls: list[tuple[str, dict]], errlog):
    params = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp_server", "--token", token],
        env={"DATABASE_URL": database_url(), "ANTHROPIC_API_KEY": "", "REDIS_URL": ""},
        cwd=str(BASE_DIR),
    )
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
        return listed, results


# Committed data, so the subprocess sees it. A plain transactional test, like the rest of the
# suite's: no serialized rollback (a restore fails on the content types that an earlier
# transactional test's flush re-created); the suite's conftest puts the reference data back.
@pytest.mark.django_db(transaction=True)
def test_mcp_server_lists_the_tools_and_runs_them_as_the_tokens_user(rep1, rep2, tmp_path):
    mine = make_lead(rep1, "Acme expansion", score=88)
    theirs = make_lead(rep2, "Globex secret deal", score=95)
    _, token = token_create(by=rep1, name="MCP")

    calls = [
        ("search_leads", {"hot": True}),
        ("get_lead", {"lead_id": str(theirs.pk)}),
        ("convert_lead", {"lead_id": str(mine.pk)}),
    ]
    log = tmp_path / "mcp-server.log"
    with log.open("w") as errlog:
        try:
            listed, results = anyio.run(session_calls, token, calls, errlog)
        except BaseException:
            print(log.read_text())  # the server's stderr, for the failure report
            raise
    names = {tool.name for tool in listed.tools}
    assert {"search_leads", "create_lead", "convert_lead", "lead_metrics"} <= names
    search = next(t for t in listed.tools if t.name == "search_leads")
    assert search.input_schema["type"] == "object" and search.description

    found, refused, proposed = results
    assert not found.is_error
    assert [r["name"] for r in found.structured_content["results"]] == ["Acme expansion"]
    assert "Globex" not in found.content[0].text
    assert refused.is_error and refused.structured_content["error"]["code"] == "not_found"
    assert proposed.structured_content["status"] == "needs_confirmation"
    assert "token" not in proposed.content[0].text

    # Recorded like any call: a conversation of the session, tool calls, audit, a proposal
    # the user confirms in the chat.
    conversation = Conversation.objects.get(user=rep1, source="mcp")
    assert proposed.structured_content["confirm_in"] == f"/ai/{conversation.pk}/"
    calls = ToolCall.objects.filter(user=rep1, source="mcp").order_by("pk")
    assert [c.tool for c in calls] == ["search_leads", "get_lead", "convert_lead"]
    assert (
        AuditLog.objects.filter(user=rep1, action="ai.tool_call", details__source="mcp").count()
        == 3
    )
    assert Proposal.objects.get(user=rep1).status == "pending"


@pytest.mark.django_db
def test_mcp_server_refuses_a_bad_token(rep1):
    with pytest.raises(CommandError, match="Unknown API token"):
        call_command("mcp_server", token="nope")
    with pytest.raises(CommandError, match="Give an API token"):
        call_command("mcp_server", token="")
