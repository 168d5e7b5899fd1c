"""Load and fault tests of PipeCRM's production-mode stack (issue 21; README "Load and fault
tests").

    python -m loadtest run [--users 100] [--duration 60] [--leads 100000] [--curve 25,50,100,200]
    python -m loadtest chaos [--only 1,3]

``run`` drives the four kinds of user of ``locustfile.py`` with Locust against two daphne
processes, a Celery worker and beat on a PostgreSQL and a Redis of its own, and checks the
targets of SPEC §11 (``run.py``); ``chaos`` kills and stops those parts while writes go on and
verifies that nothing is lost or done twice (``chaos.py``). Both exit non-zero on a miss.
"""
