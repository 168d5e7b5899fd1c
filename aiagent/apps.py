from django.apps import AppConfig


class AiagentConfig(AppConfig):
    name = "aiagent"
    verbose_name = "AI agent"

    def ready(self) -> None:
        from aiagent.selectors import ai_usage
        from analytics.registry import register_ai_usage, register_period_summary

        def summarize_period(**kwargs) -> str:
            # Imported on first use: the SDK takes a while to import, and most processes
            # (workers, commands) never write a summary.
            from aiagent.summaries import summarize_period as summarize

            return summarize(**kwargs)

        register_period_summary(summarize_period)
        register_ai_usage(ai_usage)
