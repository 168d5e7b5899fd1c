from django.apps import AppConfig


class WfmConfig(AppConfig):
    name = "wfm"
    verbose_name = "Workflows"
