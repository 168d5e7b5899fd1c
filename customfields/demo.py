"""Demo custom fields: the lead's industry and company size.

They are the fields the default scoring profile reads for its demographic factors (its
``industry_field`` and ``company_size_field``), so the demo leads' scores depend on fit as
well as on engagement. Idempotent: a field whose name exists is left as it is.
"""

from __future__ import annotations

from crm.models import User
from customfields import services
from customfields.models import CustomFieldDefinition, EntityType, FieldType

INDUSTRIES = [
    "Software",
    "Technology",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Hospitality",
    "Logistics",
    "Media",
]
COMPANY_SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]

FIELDS = [
    # name, label, options, help text
    ("industry", "Industry", INDUSTRIES, "The company's industry (scored: target industries)."),
    ("company_size", "Company size", COMPANY_SIZES, "Employees (scored: target sizes)."),
]


def seed(users: dict[str, User], out) -> None:
    created = 0
    for name, label, options, help_text in FIELDS:
        if CustomFieldDefinition.objects.filter(entity_type=EntityType.LEAD, name=name).exists():
            continue
        services.custom_field_create(
            by=users["admin"],
            entity_type=EntityType.LEAD,
            name=name,
            label=label,
            type=FieldType.DROPDOWN,
            options=options,
            help_text=help_text,
            show_in_table=True,
        )
        created += 1
    out.write(f"  {CustomFieldDefinition.objects.count()} custom fields ({created} new)")
