"""Event handlers of the crm app. Other apps keep theirs in their own ``handlers.py``."""
