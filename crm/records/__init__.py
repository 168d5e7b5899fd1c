"""The one record pattern shared by leads, deals, people and organizations (SPEC §4)."""
