import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # Attachments and the stored backend's files go to a folder of this test only.
    settings.MEDIA_ROOT = tmp_path / "media"
