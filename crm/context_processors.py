from django.conf import settings
from django.utils.module_loading import import_string


def shell(request) -> dict:
    """What the app shell (navigation, AI status) needs on every page."""
    return {
        "SITE_NAME": settings.SITE_NAME,
        "AI_ONLINE": _ai_online(),
    }


def _ai_online() -> bool:
    # The AI app owns the truth (an API key and a closed circuit breaker); crm only asks.
    status = getattr(settings, "AI_STATUS", "")
    return bool(import_string(status)()) if status else bool(settings.ANTHROPIC_API_KEY)
