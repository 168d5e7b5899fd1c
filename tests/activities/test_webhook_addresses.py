"""Outbound webhooks refuse loopback, link-local and private addresses (SPEC §9), resolved when
each request is sent, redirect hops included, unless WEBHOOK_ALLOW_PRIVATE is set.

No test here sends anything beyond 127.0.0.1: every other address is refused before a
connection, and ``no_request_beyond_loopback`` fails the test if one were attempted."""

from __future__ import annotations

import ipaddress
import socket
from unittest import mock

import httpx
import pytest

from activities import webhooks
from activities.models import WebhookDelivery
from activities.tasks import deliver_webhook
from leads import services as lead_services
from tests.activities.conftest import run_events
from tests.activities.factories import WebhookFactory
from tests.activities.test_webhooks import Receiver

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture(autouse=True)
def refuse_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture(autouse=True)
def no_request_beyond_loopback():
    real_send = httpx.Client.send

    def send(client, request, **kwargs):
        assert request.url.host == "127.0.0.1", f"a request to {request.url} was attempted"
        return real_send(client, request, **kwargs)

    with mock.patch.object(httpx.Client, "send", send):
        yield


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def resolving(table: dict[str, list[str]]):
    """``socket.getaddrinfo`` for the names of ``table`` (each call takes the next address
    of the name's list, the last one staying); other names as usual."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        n = calls.get(host, 0)
        calls[host] = n + 1
        address = table[host][min(n, len(table[host]) - 1)]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return mock.patch.object(webhooks.socket, "getaddrinfo", getaddrinfo)


def loopback_counts_as_public():
    """For the tests that need an endpoint that is allowed: 127.0.0.1 stands for a public
    address (the test receiver runs there)."""
    real = webhooks.is_public_address
    return mock.patch.object(webhooks, "is_public_address", lambda ip: ip == LOOPBACK or real(ip))


def deliver(rep1, url: str) -> WebhookDelivery:
    WebhookFactory(events=["lead.created"], url=url)
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook(str(delivery.pk))
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hooks/pipecrm",
        "http://localhost:{port}/hooks/pipecrm",
        "http://[::1]:{port}/hooks/pipecrm",
        "http://[::ffff:127.0.0.1]:{port}/hooks/pipecrm",
        "http://0.0.0.0:{port}/hooks/pipecrm",
        "http://2130706433:{port}/hooks/pipecrm",  # 127.0.0.1 as one number
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.20/hook",
        "http://100.64.0.1/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
    ],
)
def test_loopback_link_local_and_private_addresses_are_refused(rep1, receiver, url):
    port = receiver.server.server_address[1]
    delivery = deliver(rep1, url.format(port=port))
    assert "are refused (WEBHOOK_ALLOW_PRIVATE)" in delivery.error
    assert delivery.status == "pending" and delivery.response_status is None  # retried later
    assert receiver.requests == []


def test_a_name_is_judged_by_what_it_resolves_to_when_sent(rep1):
    with resolving({"hooks.internal.example": ["10.20.30.40"]}):
        delivery = deliver(rep1, "https://hooks.internal.example/pipecrm")
    assert "hooks.internal.example resolves to 10.20.30.40" in delivery.error


def test_a_name_with_one_private_address_among_public_ones_is_refused(rep1):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.9", port)),
        ]

    with mock.patch.object(webhooks.socket, "getaddrinfo", getaddrinfo):
        delivery = deliver(rep1, "https://mixed.example/pipecrm")
    assert "resolves to 192.168.0.9" in delivery.error


def test_the_request_goes_to_the_checked_address_with_the_names_host_header(rep1, receiver):
    port = receiver.server.server_address[1]
    with resolving({"hooks.example.test": ["127.0.0.1"]}), loopback_counts_as_public():
        delivery = deliver(rep1, f"http://hooks.example.test:{port}/hooks/pipecrm")
    assert delivery.status == "succeeded", delivery.error
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example.test:{port}"
    assert request["path"] == "/hooks/pipecrm"


def test_each_redirect_hop_is_checked_again(rep1, receiver):
    """A same-host 307 is followed only if the name still resolves to a public address
    (a DNS answer that changes between two hops is no way in)."""
    port = receiver.server.server_address[1]
    receiver.routes["/hooks/pipecrm"] = (307, "/moved")
    resolved = {"rebind.example.test": ["127.0.0.1", "10.9.9.9"]}
    with resolving(resolved), loopback_counts_as_public():
        delivery = deliver(rep1, f"http://rebind.example.test:{port}/hooks/pipecrm")
    assert "rebind.example.test resolves to 10.9.9.9" in delivery.error
    assert [r["path"] for r in receiver.requests] == ["/hooks/pipecrm"]


def test_an_unresolvable_name_is_a_recorded_error(rep1):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with mock.patch.object(webhooks.socket, "getaddrinfo", fail):
        delivery = deliver(rep1, "https://nowhere.example/pipecrm")
    assert "Cannot resolve nowhere.example" in delivery.error and delivery.status == "pending"


def test_the_setting_lets_local_receivers_through(rep1, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    delivery = deliver(rep1, receiver.url)
    assert delivery.status == "succeeded" and len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.1.1", False),
        ("::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_is_public_address(address, public):
    assert webhooks.is_public_address(ipaddress.ip_address(address)) is public
