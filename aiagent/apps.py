from django.apps import AppConfig


class AiagentConfig(AppConfig):
    name = "aiagent"
    verbose_name = "AI agent"

    def ready(self) -> None:
        from aiagent import handlers  # noqa: F401  (an email reply re-runs the analysis)
        from aiagent.selectors import ai_usage
        from analytics.registry import register_ai_usage, register_period_summary

        def summarize_period(**kwargs) -> str:
            # Imported on first use: the SDK takes a while to import, and most processes
            # (workers, commands) never write a summary.
            from aiagent.summaries import summarize_period as summarize

            return summarize(**kwargs)

        register_period_summary(summarize_period)
        register_ai_usage(ai_usage)

        # Conversations name the lead they started from by id: a merge moves them.
        from crm.records.merge import register_mover

        def conversations_merge(survivor, merged) -> None:
            # Imported on first use, as above: the services import the SDK.
            from aiagent.services import conversations_merge as move

            move(survivor, merged)

        register_mover("leads.Lead:conversations", conversations_merge)

        # Next best actions counted on a lead are counted once a day per user and lead: a
        # merge keeps one of two alike (aiagent.services.next_actions_merge).
        def next_actions_merge(survivor, merged) -> None:
            from aiagent.services import next_actions_merge as move

            move(survivor, merged)

        register_mover("aiagent.NextActionSuggestion.lead", next_actions_merge)
