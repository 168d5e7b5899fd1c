import httpx2
import pytest

from aiagent import breaker, llm
from tests.aiagent.conftest import ScriptedClaude


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # Attachments and the stored backend's files go to a folder of this test only.
    settings.MEDIA_ROOT = tmp_path / "media"


def _refuse_network(request: httpx2.Request) -> httpx2.Response:
    raise AssertionError(f"Tried to reach {request.url}")


@pytest.fixture
def offline(settings, monkeypatch):
    """No API key, and any call to Claude fails the test: the offline drafts."""
    settings.ANTHROPIC_API_KEY = ""
    settings.AI_MAX_RETRIES = 0
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(_refuse_network)),
    )
    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def claude(settings, monkeypatch) -> ScriptedClaude:
    """Claude online, answering from a script on a mocked transport (never the network)."""
    scripted = ScriptedClaude()
    settings.ANTHROPIC_API_KEY = "test-key"
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(scripted.handler)),
    )
    return scripted
