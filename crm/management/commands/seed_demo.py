import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from crm.demo import DEMO_PASSWORD, DEMO_USERS, ensure_users

# Apps contribute demo data through an optional ``<app>.demo.seed(users, out)``, in this order.
SEED_ORDER = ["crm", "wfm", "customfields", "deals", "leads", "activities", "aiagent"]


class Command(BaseCommand):
    help = "Create demo users and data (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = ensure_users()
            for label in SEED_ORDER:
                if not apps.is_installed(label):
                    continue
                try:
                    module = importlib.import_module(f"{label}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{label}.demo":
                        raise
                    continue
                self.stdout.write(f"Seeding {label}…")
                module.seed(users, self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"\nDemo data ready. Logins (password for all: {DEMO_PASSWORD}):")
        )
        for username, _first, _last, role, _su in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role.value}")
