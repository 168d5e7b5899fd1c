# A conversation can be about a person or an organization (their pages' drawers, issue 19);
# "organization" is 12 characters: the column grows from 10 to 20. A chat opened without a
# record follows the record named last (context_followed).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aiagent", "0003_next_action_suggestion"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="context_followed",
            field=models.BooleanField(
                default=False,
                help_text="The context is the record named last in the chat (not the page's "
                "record the conversation was opened from).",
            ),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="context_type",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None"),
                    ("lead", "Lead"),
                    ("deal", "Deal"),
                    ("person", "Person"),
                    ("organization", "Organization"),
                ],
                default="",
                help_text="The record the conversation was started from, if any.",
                max_length=20,
            ),
        ),
    ]
