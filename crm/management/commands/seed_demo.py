import importlib
import time

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from crm.demo import DEMO_PASSWORD, DEMO_USERS, ensure_users
from crm.records import tallies

# Apps contribute demo data through an optional ``<app>.demo.seed(users, out)``, in this order,
# and may add an optional ``<app>.demo.finish(users, out)``, run in the same order once every
# app has seeded (the leads' final rescore and the conversion model need every activity).
# One transaction: on SQLite each event handler's own transaction is then a savepoint rather
# than a commit (thousands of them: several times slower).
SEED_ORDER = [
    "crm",
    "wfm",
    "customfields",
    "deals",
    "leads",
    "duplicates",  # before activities: its leads get histories and their events run too
    "activities",
    "aiagent",
    "emails",
]


def demo_modules():
    for label in SEED_ORDER:
        if not apps.is_installed(label):
            continue
        try:
            module = importlib.import_module(f"{label}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{label}.demo":
                raise
            continue
        yield label, module


class Command(BaseCommand):
    help = "Create demo users and data (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        started = time.perf_counter()
        with transaction.atomic():
            users = ensure_users()
            modules = list(demo_modules())
            for label, module in modules:
                self._step(f"Seeding {label}", module.seed, users)
            for label, module in modules:
                if hasattr(module, "finish"):
                    self._step(f"Finishing {label}", module.finish, users)
        # After the commit, whose events have run: the boards read their column heads from
        # then on (crm.records.tallies).
        self._step("Counting the boards", lambda users, out: tallies.rebuild_all(), users)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo data ready in {time.perf_counter() - started:.0f} s. "
                f"Logins (password for all: {DEMO_PASSWORD}):"
            )
        )
        for username, _first, _last, role, _su in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role.value}")

    def _step(self, title: str, function, users) -> None:
        self.stdout.write(f"{title}…")
        started = time.perf_counter()
        function(users, self.stdout)
        self.stdout.write(f"  ({time.perf_counter() - started:.1f} s)")
