"""The imports API (SPEC §7): POST a file (multipart) → 202, then status, counts, the error
report, cancel and undo; pages: the wizard's upload, mapping, preview and progress."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict

from crm.models import ImportJob
from leads.models import Lead
from tests.crm.test_api import assert_error_shape
from tests.crm.test_imports import csv_bytes

URL = "/api/v1/imports/"


def upload(name="leads.csv", content=None):
    content = content or csv_bytes(
        [["Lead", "Mail", "Value"], ["A", "a@x.com", "10"], ["B", "bad", "20"]]
    )
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_post_a_file_runs_the_import_and_reports_it(
    api_as, rep1, django_capture_on_commit_callbacks
):
    client = api_as(rep1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL,
            {
                "file": upload(),
                "record_type": "lead",
                "mapping": json.dumps({"Mail": "contact_email"}),
                "mode": "skip",
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    job = client.get(f"{URL}{body['id']}/").json()
    assert job["mapping"] == {"Lead": "name", "Mail": "contact_email", "Value": "estimated_value"}
    assert (job["status"], job["created"], job["failed"]) == ("done", 1, 1)
    report = client.get(job["errors_url"])
    assert report["Content-Type"].startswith("text/csv")
    assert b"".join(report.streaming_content).decode().splitlines() == [
        "line,reason,Lead,Mail,Value",
        "3,Mail: Enter a valid email address.,B,bad,20",
    ]
    assert_error_shape(client.post(f"{URL}{body['id']}/cancel/"), 409, "not_running")
    with django_capture_on_commit_callbacks(execute=True):
        undone = client.post(f"{URL}{body['id']}/undo/")
    assert undone.status_code == 202
    assert client.get(f"{URL}{body['id']}/").json()["status"] == "undone"
    assert not Lead.objects.filter(contact_email="a@x.com").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"record_type": "lead"}, "file"),
        ({"record_type": "planet", "file": "FILE"}, "record_type"),
        ({"record_type": "lead", "file": "FILE", "mode": "merge"}, "mode"),
        ({"record_type": "lead", "file": "FILE", "mapping": "[1, 2]"}, "mapping"),
        ({"record_type": "lead", "file": "FILE", "mapping": "{not json"}, "mapping"),
        ({"record_type": "lead", "file": "FILE", "mapping": "null"}, "mapping"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api_as, rep1, data, field):
    data = dict(data)
    if data.get("file") == "FILE":
        data["file"] = upload()
    response = api_as(rep1).post(URL, data, format="multipart")
    error = assert_error_shape(response, 400)
    assert field in error["details"], error
    assert not ImportJob.objects.exclude(status="draft").exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"file": b""}, "The file is empty."),
        ({"file": b"\x89PNG\r\n\x1a\n\x00\x00"}, "The file is not text that can be read"),
        ({"mapping": '{"Lead": "salary"}'}, "“salary” is not a lead field."),
        ({"mapping": '{"Nope": "name"}'}, "“Nope”, which is not a column of the file"),
    ],
)
def test_what_the_file_or_mapping_refuses_fails_the_import_with_the_reason(
    api_as, rep1, django_capture_on_commit_callbacks, data, error
):
    body = {"record_type": "lead", "file": upload(), **data}
    if isinstance(body["file"], bytes):
        body["file"] = SimpleUploadedFile("f.csv", body["file"], content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(rep1).post(URL, body, format="multipart")
    assert response.status_code == 202, response.content
    job = api_as(rep1).get(f"{URL}{response.json()['id']}/").json()
    assert job["status"] == "failed" and error in job["error"], job["error"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("who", ["analyst", "viewer"])
def test_analysts_and_viewers_may_not_import(api_as, request, who):
    response = api_as(request.getfixturevalue(who)).post(
        URL, {"file": upload(), "record_type": "lead"}, format="multipart"
    )
    assert_error_shape(response, 403, "permission_denied")


def test_imports_are_seen_by_their_importer_and_managers_only(
    api_as, rep1, rep2, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = (
            api_as(rep1)
            .post(URL, {"file": upload(), "record_type": "lead"}, format="multipart")
            .json()
        )
    assert_error_shape(api_as(rep2).get(f"{URL}{job['id']}/"), 404, "not_found")
    assert api_as(rep2).get(URL).json()["count"] == 0
    assert api_as(manager).get(URL).json()["count"] == 1
    assert_error_shape(api_as(rep2).get(f"/api/v1/imports/{job['id']}/errors/"), 404, "not_found")


# --- pages ------------------------------------------------------------------------------------
def test_the_wizard_uploads_maps_previews_and_starts(web, rep1, django_capture_on_commit_callbacks):
    client = web(rep1)
    page = client.get("/leads/import/")
    assert page.status_code == 200 and 'type="file"' in page.content.decode()
    response = client.post("/leads/import/", {"file": upload()})
    assert response.status_code == 302
    job = ImportJob.objects.get(created_by=rep1)
    mapping = client.get(response.url).content.decode()
    assert "Map the columns" in mapping and "Enter a valid email address." in mapping
    preview = client.post(
        response.url,
        {
            "map-0": "name",
            "map-1": "",
            "map-2": "estimated_value",
            "mode": "skip",
            "action": "preview",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'id="import-preview"' in preview and "Enter a valid email" not in preview
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            response.url,
            {
                "map-0": "name",
                "map-1": "contact_email",
                "map-2": "estimated_value",
                "mode": "skip",
                "action": "start",
            },
        )
    assert started.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.failed) == ("done", 1, 1)
    progress = client.get(started.url).content.decode()
    assert 'data-testid="import-progress"' in progress and "Error report" in progress


def test_the_wizard_refuses_a_file_it_cannot_read(web, rep1):
    response = web(rep1).post(
        "/leads/import/", {"file": SimpleUploadedFile("x.csv", b"", content_type="text/csv")}
    )
    assert response.status_code == 400 and "The file is empty." in response.content.decode()


@pytest.mark.parametrize("who", ["analyst", "viewer"])
def test_the_wizard_is_not_offered_to_who_may_not_import(db, web, request, who):
    client = web(request.getfixturevalue(who))
    assert client.get("/leads/import/").status_code == 403
    assert 'data-testid="import-lead"' not in client.get("/leads/").content.decode()


def test_a_null_mode_is_as_if_left_out(db, client):
    """A multipart body cannot carry a null (clients drop the part): the schema says a null
    mode is taken, and the server takes it as the default. (A null mapping is refused: in a
    multipart body it is the JSON text "null", above.)"""
    from crm.api import ImportRequestSerializer

    upload = SimpleUploadedFile("leads.csv", b"Name\nAcme\n", content_type="text/csv")
    serializer = ImportRequestSerializer(data={"file": upload, "record_type": "lead", "mode": None})
    assert serializer.is_valid(), serializer.errors
    assert "mode" not in serializer.validated_data
    # In a multipart body, the null is the text "null".
    upload.seek(0)
    form = QueryDict(mutable=True)
    form.update({"file": upload, "record_type": "lead", "mode": "null"})
    serializer = ImportRequestSerializer(data=form)
    assert serializer.is_valid(), serializer.errors
    assert "mode" not in serializer.validated_data
    form.setlist("mode", ["null", "null"])  # a field given twice is refused
    upload.seek(0)
    refused = ImportRequestSerializer(data=form)
    assert not refused.is_valid() and refused.errors["mode"] == ["Give one value."]
    schema = client.get("/api/schema/?format=json").json()
    mode = schema["components"]["schemas"]["ImportRequestRequest"]["properties"]["mode"]
    assert mode.get("nullable") is True or "null" in json.dumps(mode)
