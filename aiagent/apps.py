from django.apps import AppConfig


class AiagentConfig(AppConfig):
    name = "aiagent"
    verbose_name = "AI agent"
