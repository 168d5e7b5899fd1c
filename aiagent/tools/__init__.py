"""The tools, one module per domain; importing this package registers them all."""

from aiagent.tools import (  # noqa: F401
    activity_tools,
    contact_tools,
    deal_tools,
    email_tools,
    lead_tools,
    setup_tools,
)
