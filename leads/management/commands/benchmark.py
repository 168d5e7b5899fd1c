import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.urls import NoReverseMatch, reverse

from crm.records import tallies
from leads import benchmark
from leads.benchmark import Figure

# SPEC §11: full rescore of 100k leads in 30 s, of 1M in 5 minutes.
RESCORE_TARGET_SECONDS = {100_000: 30, 1_000_000: 300}
# SPEC §11: import of 100,000 rows through the services, in seconds.
IMPORT_TARGET_SECONDS = 120
IMPORT_TARGET_ROWS = 100_000

# SPEC §11: p95 targets in ms for PostgreSQL with 100k leads, by scenario.
TARGETS = {
    "lead table page": 150,
    "lead table filtered by custom field": 200,
    "kanban board": 200,
    "API list": 100,
    "API list filtered and sorted": 100,
    "API list filtered by custom field": 200,
    # SPEC §11 (issue 16): ≤ 15 / 10 queries too.
    "team dashboard, 90 days": 300,
    "My day": 150,
}

# Issue 17: ten times the peers' p50 at 20,000 leads (PipeCRM's peers measured on the same
# machine: Horilla CRM's 50-row list 396 ms and 150-card board 257 ms, BottleCRM's 50-row
# JSON page 240 ms).
PEER_LEADS = 20_000


@dataclass(frozen=True)
class Scenario:
    name: str
    url_name: str
    query: str = ""  # "{step}": the id of a step of the lead workflow that is not final
    who: str = "manager"
    htmx: bool = False  # an HTMX region request (HX-Request), as the page's own refresh
    board: bool = False  # count the cards of the response
    peer_goal_ms: float | None = None  # a peer-comparison request: its p50 goal at 20k
    peer_note: str = ""


SCENARIOS = [
    Scenario("lead table page", "leads:list", "?page_size=50"),
    Scenario("lead table page", "leads:list", "?page_size=50", who="rep"),
    Scenario(
        "lead table filtered by custom field",
        "leads:list",
        "?cf_bench_industry=Software&page_size=50",
    ),
    Scenario("kanban board", "leads:board", board=True),
    Scenario("kanban board", "leads:board", who="rep", board=True),
    Scenario("API list", "lead-list", "?page_size=50"),
    Scenario("API list", "lead-list", "?page_size=50", who="rep"),
    # score_min=25: after the rescore (real scores, few above 50) it matches thousands of
    # leads (2,410 of 100,000), as 50 did on the generator's former random scores.
    Scenario(
        "API list filtered and sorted",
        "lead-list",
        "?source=web&score_min=25&ordering=-lead_score&page_size=50",
    ),
    Scenario(
        "API list filtered by custom field",
        "lead-list",
        "?cf_bench_industry=Software&cf_bench_budget_min=100000&page_size=50",
    ),
    Scenario("team dashboard, 90 days", "analytics:team", "?period=last_90_days"),
    Scenario("My day", "analytics:my_day", who="rep"),
    # The three requests compared with the peers (issue 17), always measured.
    Scenario(
        "peer: table rows partial, step, by score",
        "leads:list",
        "?step={step}&ordering=-lead_score&page_size=50",
        htmx=True,
        peer_goal_ms=40,
        peer_note="50 rows; Horilla 396 ms",
    ),
    Scenario(
        "peer: API page of 50 leads",
        "lead-list",
        "?page_size=50",
        peer_goal_ms=24,
        peer_note="BottleCRM 240 ms",
    ),
    Scenario(
        "peer: leads board",
        "leads:board",
        board=True,
        peer_goal_ms=26,
        peer_note="for 150 cards; Horilla 257 ms",
    ),
]


class Command(BaseCommand):
    help = (
        "Build (or verify and reuse) the benchmark dataset, rescore it, vacuum it and report, "
        "per screen and endpoint, the SQL query count, p50/p95 latency, the SQL time and the "
        "main SQL statement's own time (SPEC §10)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads", type=int, default=100_000, help="Dataset size (default 100000)."
        )
        parser.add_argument(
            "--requests",
            type=int,
            # 100: a p95 is then the fifth slowest request, not the second (with 40, two
            # runs' p95s differed by up to 27 % while their p50s agreed within 2 %).
            default=100,
            help="Timed requests per scenario, in interleaved rounds (default 100, min 20).",
        )
        parser.add_argument("--json", dest="json_path", help="Write the figures to this JSON file.")
        parser.add_argument(
            "--compare",
            dest="compare_path",
            help="A previous run's --json file: print the change of p50 and p95 per scenario.",
        )
        parser.add_argument(
            "--batch", type=int, default=10_000, help="Leads per insert batch (default 10000)."
        )
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Delete and build the dataset even when its fingerprint matches.",
        )
        parser.add_argument(
            "--no-rescore",
            action="store_true",
            help="Skip the full rescore (the scores are then whatever the database holds).",
        )
        parser.add_argument(
            "--import-rows",
            type=int,
            default=0,
            help="Also time an import of this many new lead rows (SPEC §11: 100000 in ≤120 s).",
        )
        parser.add_argument(
            "--only-import",
            action="store_true",
            help="Time only the import (with --import-rows), on the leads already there.",
        )

    def handle(self, *args, leads, requests, json_path, batch, **options):
        import_rows, only_import = options.get("import_rows") or 0, options.get("only_import")
        compare_path = options.get("compare_path")
        previous = self._load(compare_path) if compare_path else None
        if only_import:
            if not import_rows:
                raise CommandError("--only-import needs --import-rows N.")
            manager, _ = benchmark.ensure_users()
            figure = benchmark.measure_import(manager, import_rows)
            self._print_import(figure)
            if json_path:
                Path(json_path).write_text(json.dumps([figure.as_json()], indent=2))
            return
        requests = max(20, requests)
        environment = benchmark.environment()
        self.stdout.write(f"Database: {environment['database']} {environment['version']}.")
        dataset = benchmark.prepare(
            leads, log=self.stdout.write, rebuild=options.get("rebuild", False), batch=batch
        )
        rescore = None
        if not options.get("no_rescore"):
            self.stdout.write("  full rescore (at the dataset's anchor)…")
            rescore = benchmark.measure_rescore(now=dataset.anchor)
        # The boards read their column heads from tallies (crm.records.tallies), which the
        # COPY did not move: counted again on every run, as the nightly task does.
        started = time.perf_counter()
        tallies.rebuild_all()
        self.stdout.write(f"  board tallies rebuilt in {time.perf_counter() - started:.1f} s")
        benchmark.settle(log=self.stdout.write)

        manager, reps = benchmark.ensure_users()
        host = next(
            (h for h in settings.ALLOWED_HOSTS if h not in {"*", ""} and not h.startswith(".")),
            "localhost",
        )
        clients = {}
        for label, user in (("manager", manager), ("rep", reps[0])):
            client = Client(HTTP_HOST=host)
            client.force_login(user)
            clients[label] = client
        step = next(s for s in benchmark.Context.load().steps if not s.is_final)

        requested: list[benchmark.Request] = []
        peers: dict[str, Scenario] = {}
        for scenario in SCENARIOS:
            try:
                path = reverse(scenario.url_name) + scenario.query.format(step=step.pk)
            except NoReverseMatch:
                self.stdout.write(
                    self.style.WARNING(f"  skipped {scenario.name}: no page at {scenario.url_name}")
                )
                continue
            name = f"{scenario.name} ({scenario.who})"
            requested.append(
                benchmark.Request(
                    name,
                    clients[scenario.who],
                    path,
                    headers={"HTTP_HX_REQUEST": "true"} if scenario.htmx else None,
                    cards=scenario.board,
                )
            )
            if scenario.peer_goal_ms is not None:
                peers[name] = scenario
        self.stdout.write(f"  measuring {len(requested)} scenarios, {requests} interleaved rounds…")
        figures: list[Figure] = benchmark.measure_all(requested, requests=requests)

        imported = None
        if import_rows:
            self.stdout.write(f"  measuring an import of {import_rows} rows…")
            imported = benchmark.measure_import(manager, import_rows)
        environment["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

        self._print_header(environment, dataset, step)
        self._print(figures)
        self._print_peers(figures, peers, dataset.leads, step)
        if rescore is not None:
            self._print_rescore(rescore)
        if imported is not None:
            self._print_import(imported)
        rows = [environment, dataset.as_json(), *(f.as_json() for f in figures)]
        rows += [rescore.as_json()] if rescore else []
        rows += [imported.as_json()] if imported else []
        if previous is not None:
            self._print_compare(previous, rows, compare_path)
        if json_path:
            Path(json_path).write_text(json.dumps(rows, indent=2, default=str))
            self.stdout.write(f"Wrote {json_path}")

    @staticmethod
    def _load(path: str) -> list[dict]:
        try:
            rows = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"--compare {path}: {exc}") from exc
        if not isinstance(rows, list):
            raise CommandError(f"--compare {path}: not a list of figures")
        return rows

    def _print_header(self, env: dict, dataset, step) -> None:
        before = " ".join(f"{x:.2f}" for x in env["load_average"])
        after = " ".join(f"{x:.2f}" for x in env["load_average_after"])
        self.stdout.write(
            f"\nMachine: {env['cpus']} CPUs; load average (1, 5, 15 min) {before} before, "
            f"{after} after"
        )
        line = f"Database: {env['database']} {env['version']}"
        if env.get("settings"):
            line += "; " + ", ".join(f"{k}={v}" for k, v in env["settings"].items())
        self.stdout.write(line)
        self.stdout.write(
            f"Cache: {env['cache']}; reference data cached: "
            + ("yes" if env["reference_cache"] else "no (REFERENCE_CACHE off: set REDIS_URL)")
        )
        if dataset.built:
            how = (
                f"built in {dataset.seconds:.1f} s with {dataset.method.upper()} (leads with "
                f"projects, history, permissions {dataset.lead_seconds:.1f} s, activities "
                f"{dataset.activity_seconds:.1f} s"
                + (
                    f", deleting the old ones {dataset.deleted_seconds:.1f} s"
                    if dataset.deleted_seconds
                    else ""
                )
                + ")"
            )
        else:
            how = "reused (fingerprint verified)"
        self.stdout.write(
            f"Dataset: {dataset.leads} leads, {dataset.activities} activities; fingerprint "
            f"[{dataset.fingerprint}]; {how}; anchor {dataset.anchor:%Y-%m-%d %H:%M:%S} UTC"
        )

    def _print(self, figures: list[Figure]) -> None:
        columns = ("queries", "p50 ms", "p95 ms", "sql ms", "sql Σ ms", "app ms", "cards")
        header = (
            f"{'scenario':<52} " + " ".join(f"{c:>8}" for c in columns) + f" {'target p95':>10}"
        )
        self.stdout.write(
            "\nsql ms: the slowest statement run alone; sql Σ: all the statements of a request "
            f"(median of {benchmark.CAPTURED_RUNS} captured requests); app ms: p50 − sql Σ "
            "(SPEC §11: ≤ 20 ms for 50 rows)"
        )
        self.stdout.write(header + "\n" + "-" * len(header))
        for f in figures:
            target = TARGETS.get(f.name.rsplit(" (", 1)[0])
            verdict = (
                ""
                if target is None
                else (f"≤{target} ok" if f.p95_ms <= target else f"≤{target} MISS")
            )
            cells = (
                f.queries,
                f.p50_ms,
                f.p95_ms,
                f.sql_ms,
                f.sql_total_ms,
                f.app_ms,
                "" if f.cards is None else f.cards,
            )
            self.stdout.write(
                f"{f.name:<52} " + " ".join(f"{c:>8}" for c in cells) + f" {verdict:>10}"
            )

    def _print_peers(self, figures: list[Figure], peers: dict, leads: int, step) -> None:
        at_size = leads == PEER_LEADS
        self.stdout.write(
            f"\nPeer comparison (issue 17): goal ≥ 10× the peers, p50 at {PEER_LEADS:,} leads "
            f"(`manage.py benchmark --leads {PEER_LEADS}`)"
            + ("" if at_size else f"; this run has {leads:,} leads, so no verdict")
            + f". Rows partial: step “{step.name}”."
        )
        for f in figures:
            scenario = peers.get(f.name)
            if scenario is None:
                continue
            goal = scenario.peer_goal_ms
            verdict = ("ok" if f.p50_ms <= goal else "MISS") if at_size else "—"
            cards = f", {f.cards} cards" if f.cards is not None else ""
            self.stdout.write(
                f"  {f.name:<50} p50 {f.p50_ms:>7} ms, {f.queries} queries{cards}; "
                f"goal ≤ {goal:g} ms ({scenario.peer_note}) {verdict}"
            )

    def _print_compare(self, previous: list[dict], rows: list[dict], path: str) -> None:
        before = {r.get("name"): r for r in previous if isinstance(r, dict)}
        self.stdout.write(f"\nCompared with {path}:")
        speed = _speed_change(before.get(benchmark.CALIBRATION), rows)
        if speed is not None:
            self.stdout.write(
                f"The machine's own speed: the calibration row (fixed Python work) changed by "
                f"{speed - 1:+.0%}. “at equal speed” is each p50's change with that taken out "
                f"(its ratio divided by the calibration's): what the code changed, when the "
                f"machine did too."
            )
        header = (
            f"{'scenario':<52} {'p50 was':>8} {'p50 now':>8} {'change':>8} "
            f"{'p95 was':>8} {'p95 now':>8} {'change':>8}"
            + (f" {'p50 at equal speed':>19}" if speed is not None else "")
        )
        self.stdout.write(header + "\n" + "-" * len(header))
        for row in rows:
            if "p50_ms" in row:
                keys = ("p50_ms", "p95_ms")
            elif row.get("name") == "full rescore":
                keys = ("seconds",)
            else:
                continue
            old = before.get(row["name"])
            cells = []
            for key in keys:
                was = old.get(key) if old else None
                now = row[key]
                change = f"{(now - was) / was * 100:+.0f}%" if was else "new"
                cells += [f"{was if was is not None else '—':>8}", f"{now:>8}", f"{change:>8}"]
            timed = keys != ("seconds",) and row["name"] != benchmark.CALIBRATION
            if speed is not None and timed and old and old.get("p50_ms"):
                equal = row["p50_ms"] / old["p50_ms"] / speed - 1
                cells.append(f"{equal:>+19.0%}")
            suffix = " (seconds)" if keys == ("seconds",) else ""
            self.stdout.write(f"{row['name'] + suffix:<52} " + " ".join(cells))

    def _print_import(self, figure) -> None:
        name = f"import of {figure.rows} lead rows"
        # The target scales with the rows: 100k in 120 s is 1.2 ms a row.
        target = IMPORT_TARGET_SECONDS * figure.rows / IMPORT_TARGET_ROWS
        ok = figure.seconds <= target
        self.stdout.write(
            f"{name:<52} {figure.seconds:>8.1f} s  ({figure.rows_per_second:,.0f} rows/s, "
            f"{figure.created} created, {figure.failed} failed) "
            f"{f'≤{target:.0f} s ' + ('ok' if ok else 'MISS'):>12}"
        )

    def _print_rescore(self, figure) -> None:
        name = f"full rescore ({figure.leads} leads, {figure.activities} activities)"
        target = next(
            (t for size, t in sorted(RESCORE_TARGET_SECONDS.items()) if figure.leads <= size),
            max(RESCORE_TARGET_SECONDS.values()),
        )
        verdict = f"≤{target} s {'ok' if figure.seconds <= target else 'MISS'}"
        self.stdout.write(
            f"\n{name:<52} {figure.seconds:>8.1f} s  ({figure.changed} changed, "
            f"{figure.auto_qualified} auto-qualified) {verdict:>12}"
        )


def _speed_change(before: dict | None, rows: list[dict]) -> float | None:
    """How much slower (> 1) or faster (< 1) the machine ran the calibration's fixed Python
    work than in the earlier run, or None when either run lacks it."""
    now = next((r for r in rows if r.get("name") == benchmark.CALIBRATION), None)
    if not before or not now or not before.get("p50_ms") or not now.get("p50_ms"):
        return None
    return now["p50_ms"] / before["p50_ms"]
