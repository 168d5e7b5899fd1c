"""Lead scoring (SPEC §6 Scoring): an explainable, rule-based engine.

- ``defaults``: the default profile settings and the installer of the default profile and the
  nightly schedules (used by the data migration and the test fixtures);
- ``factors``: pure functions from a lead's inputs to its breakdown (no database);
- ``inputs``: the set-based loading of those inputs, one batch of leads at a time;
- ``services``: the writes: rescore one lead or all of them, snapshots, events and
  auto-qualification;
- ``selectors``: the reads behind the score panel (history sparkline, conversion likelihood).

Nothing is imported here so that ``leads.models`` can use ``defaults`` without a cycle.
"""
