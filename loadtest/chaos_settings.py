"""The fault suite's settings: the app's own, plus the poison handler (``loadtest.poison``),
which must be registered in the worker that runs it. Nothing else differs; what the suite
shortens (re-dispatch, retry backoff) it sets through the documented environment variables."""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "loadtest.poison"]  # noqa: F405
