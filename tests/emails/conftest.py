import pytest

# Claude in the email tests as in the assistant's: offline for every test (no key, and any
# request to Claude fails it), scripted on a mocked transport for those that ask for ``claude``.
from tests.aiagent.conftest import claude, offline_by_default  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # Attachments and the stored backend's files go to a folder of this test only.
    settings.MEDIA_ROOT = tmp_path / "media"
