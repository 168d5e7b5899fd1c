"""Web-to-lead capture (SPEC §6, issue 15): capture forms, their hosted pages and snippet, the
public capture endpoint and its abuse protections. The touch points the captures record are
written by ``leads.services`` (``touch_point_add``), which import and the API use as well."""
