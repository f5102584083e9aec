"""Broker isolation, enforced by a real nats-server in operator mode (appyard.brokerauth; DESIGN.md §7).

The lab app (B) is served by the API and its runner; an attacker holds the runner credentials of another app (A,
"evil"), as a compromised runner of A would. Everything A's runners legitimately do is exercised by every other
integration test, which all run with these permissions; here each thing A must not do is tried and must be
refused by the server itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from nats.aio.client import Client, RawCredentials
from nats.errors import NoServersError
from nats.js import api
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from appyard import scaffold
from appyard.brokerauth import Credentials, Permissions, runner_permissions
from appyard.runs import RESULTS_BUCKET, RUNS_STREAM, consumer_name

from .conftest import LAB_ENV, Stack, make_stack, wait_ready
from .servers import EVERYTHING, NatsServer, wait_for
from .servers import runner as runner_process

pytestmark = pytest.mark.integration

EVIL = runner_permissions("local", "evil")
LAB_CONSUMER = consumer_name("local", "lab")


class Session:
    """A connection with some credentials that remembers every error the server sent it."""

    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, action: Callable[[], Awaitable[Any]], subject: str) -> bool:
        """Whether the server answered ``action`` with a permissions violation naming ``subject``."""
        self.errors.clear()
        await action()
        await self.nc.flush()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            # nats-py lowercases the server's "-ERR 'Permissions Violation for Publish to ...'".
            if any("permissions violation" in e.lower() and subject.lower() in e.lower() for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


async def connect(server: NatsServer, permissions: Permissions) -> Session:
    errors: list[str] = []

    async def on_error(error: Exception) -> None:
        errors.append(str(error))

    nc = await nats_py.connect(
        server.url,
        user_credentials=RawCredentials(server.creds(permissions, "attacker")),
        inbox_prefix=permissions.inbox_prefix,
        error_cb=on_error,
        allow_reconnect=False,
    )
    return Session(nc, errors)


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 60))


@pytest.fixture
def finished_run(lab_stack: Stack) -> tuple[Stack, str]:
    """The lab stack with one finished run of B (so B has a stored result and a consumer)."""
    with lab_stack.client() as client:
        body = client.post("/api/apps/lab/pages/main/runs", json={"function": "echo", "state": {}}).json()
    assert body["status"] == "succeeded"
    return lab_stack, body["run_id"]


def test_a_runner_may_do_its_own_work(lab_stack: Stack) -> None:
    """The refusals below are not an artefact of the test: the same session may do what A's runners do."""

    async def scenario() -> None:
        evil = await connect(lab_stack.nats, EVIL)
        assert not await evil.refused(lambda: evil.nc.publish("events.local.evil.x", b"{}"), "events")
        assert not await evil.refused(lambda: evil.nc.subscribe("cancel.local.evil.*"), "cancel")
        await evil.nc.close()

    run(scenario())


@pytest.mark.parametrize(
    "subject",
    [
        f"$JS.API.CONSUMER.MSG.NEXT.{RUNS_STREAM}.{LAB_CONSUMER}",  # pull B's runs
        f"$JS.ACK.{RUNS_STREAM}.{LAB_CONSUMER}.1.1.1.0.0",  # ack (so drop) B's runs
        f"$JS.API.CONSUMER.CREATE.{RUNS_STREAM}.{consumer_name('local', 'evil')}.runs.local.lab",  # a consumer on B's
        f"$JS.API.CONSUMER.DURABLE.CREATE.{RUNS_STREAM}.spy",  # a consumer with any filter
        f"$JS.API.CONSUMER.DELETE.{RUNS_STREAM}.{LAB_CONSUMER}",
        f"$JS.API.STREAM.MSG.GET.KV_{RESULTS_BUCKET}",  # read any result by sequence or subject in the body
        f"$JS.API.DIRECT.GET.KV_{RESULTS_BUCKET}.$KV.{RESULTS_BUCKET}.local.lab.01ARZ3NDEKTSV4RRFFQ69G5FAV",
        f"$JS.API.STREAM.PURGE.KV_{RESULTS_BUCKET}",
        f"$KV.{RESULTS_BUCKET}.local.lab.01ARZ3NDEKTSV4RRFFQ69G5FAV",  # forge B's result
        "events.local.lab.01ARZ3NDEKTSV4RRFFQ69G5FAV",  # forge B's events
        "runs.local.lab",  # queue runs for B
        "runs.local.evil",  # or for itself: only the API queues runs
        "cancel.local.lab.01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "_INBOX.api.local.abc.1",  # answer the API's requests
    ],
)
def test_another_apps_runner_cannot_publish(finished_run: tuple[Stack, str], subject: str) -> None:
    stack, _ = finished_run

    async def scenario() -> None:
        evil = await connect(stack.nats, EVIL)
        assert await evil.refused(lambda: evil.nc.publish(subject, b"{}"), subject)
        await evil.nc.close()

    run(scenario())


@pytest.mark.parametrize(
    "subject",
    [
        f"$KV.{RESULTS_BUCKET}.>",  # every result as it is written
        "events.local.lab.>",
        "runs.>",
        "cancel.local.lab.*",
        "_INBOX.>",  # every reply to everyone
        "_INBOX.api.local.>",  # the API's replies
        "_INBOX.runner.local.lab.>",  # B's runner's replies (its pulled runs)
        ">",
    ],
)
def test_another_apps_runner_cannot_subscribe(finished_run: tuple[Stack, str], subject: str) -> None:
    stack, _ = finished_run

    async def scenario() -> None:
        evil = await connect(stack.nats, EVIL)
        assert await evil.refused(lambda: evil.nc.subscribe(subject), subject)
        await evil.nc.close()

    run(scenario())


def _consumer_request(config: dict[str, Any]) -> bytes:
    return json.dumps({"stream_name": RUNS_STREAM, "config": config}).encode()


def test_a_runner_cannot_create_update_or_delete_its_own_consumer(lab_stack: Stack) -> None:
    """Runners hold no consumer-managing permission at all: not for the consumer of their own app that exists
    (B's, updated to push B's runs somewhere), nor for one that does not exist yet (A's, made as a push
    consumer), through any of the subjects the JetStream API offers."""
    lab = runner_permissions("local", "lab")
    evil_consumer = consumer_name("local", "evil")
    attempts: list[tuple[Permissions, str, str, dict[str, Any]]] = []
    for permissions, consumer, ns_app in ((lab, LAB_CONSUMER, "local.lab"), (EVIL, evil_consumer, "local.evil")):
        pull = {
            "name": consumer,
            "durable_name": consumer,
            "filter_subject": f"runs.{ns_app}",
            "ack_policy": "explicit",
            "ack_wait": 60_000_000_000,
        }
        push = {**pull, "deliver_subject": "events.local.other.x"}
        for subject in (
            f"$JS.API.CONSUMER.CREATE.{RUNS_STREAM}.{consumer}.runs.{ns_app}",
            f"$JS.API.CONSUMER.CREATE.{RUNS_STREAM}.{consumer}",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{RUNS_STREAM}.{consumer}",
        ):
            attempts += [(permissions, subject, "pull", pull), (permissions, subject, "push", push)]
        attempts.append((permissions, f"$JS.API.CONSUMER.DELETE.{RUNS_STREAM}.{consumer}", "delete", {}))

    async def scenario() -> None:
        for permissions, subject, what, config in attempts:
            session = await connect(lab_stack.nats, permissions)
            body = _consumer_request(config) if config else b""
            assert await session.refused(partial(session.nc.publish, subject, body), subject), (what, subject)
            await session.nc.close()
        # Nothing changed: B's consumer is the API's pull consumer, A has none.
        inspector = await connect(lab_stack.nats, EVERYTHING)
        js = inspector.nc.jetstream(timeout=5)
        info = await js.consumer_info(RUNS_STREAM, LAB_CONSUMER)
        assert info.config.deliver_subject is None and info.config.ack_wait == 2.0, info.config
        with pytest.raises(nats_py.js.errors.NotFoundError):
            await js.consumer_info(RUNS_STREAM, evil_consumer)
        await inspector.nc.close()
        # What a runner may do with its consumer: read its info (to wait for it) and pull from it.
        runner = await connect(lab_stack.nats, lab)
        assert (await runner.nc.jetstream(timeout=5).consumer_info(RUNS_STREAM, LAB_CONSUMER)).name == LAB_CONSUMER
        await runner.nc.close()

    run(scenario())


async def _consumer(server: NatsServer, name: str) -> api.ConsumerInfo | None:
    connection = await nats_py.connect(server.url, user_credentials=RawCredentials(server.creds(EVERYTHING)))
    try:
        info: api.ConsumerInfo = await connection.jetstream(timeout=5).consumer_info(RUNS_STREAM, name)
    except nats_py.js.errors.NotFoundError:
        return None
    finally:
        await connection.close()
    return info


def test_the_api_keeps_the_consumer_as_the_apps_properties_say(lab_stack: Stack, lab: Path) -> None:
    """The API made the lab app's consumer from its runner properties, and follows them when they change."""
    info = asyncio.run(_consumer(lab_stack.nats, LAB_CONSUMER))
    assert info is not None
    assert info.config.filter_subject == "runs.local.lab" and info.config.deliver_subject is None
    assert (info.config.ack_wait, info.config.max_deliver) == (2.0, 2)
    properties = lab / "lab" / "properties.json"
    changed = json.loads(properties.read_text())
    changed["runner"] |= {"ack_wait_seconds": 7, "max_deliver": 4}
    properties.write_text(json.dumps(changed))

    def updated() -> bool:
        found = asyncio.run(_consumer(lab_stack.nats, LAB_CONSUMER))
        return found is not None and (found.config.ack_wait, found.config.max_deliver) == (7.0, 4)

    wait_for(updated, 20, "the API to update the consumer")
    wait_ready(lab_stack)
    assert "must not keep" not in lab_stack.api.output(), "its own consumer is updated in place, never replaced"


def test_a_push_consumer_made_by_someone_else_is_replaced(lab: Path, nats: NatsServer, logs: Path) -> None:
    """A consumer of the app's name that the API did not make (a push consumer delivering the app's runs
    elsewhere, as a runner could make one before issue 9's fix) is replaced by the API's pull consumer."""

    async def plant() -> None:
        connection = await nats_py.connect(nats.url, user_credentials=RawCredentials(nats.creds(EVERYTHING)))
        js = connection.jetstream(timeout=5)
        await js.add_stream(name=RUNS_STREAM, subjects=["runs.>"], retention=api.RetentionPolicy.WORK_QUEUE)
        await js.add_consumer(
            RUNS_STREAM,
            api.ConsumerConfig(
                durable_name=LAB_CONSUMER,
                filter_subject="runs.local.lab",
                deliver_subject="events.local.other.x",
                ack_policy=api.AckPolicy.EXPLICIT,
            ),
        )
        await connection.close()

    asyncio.run(plant())
    stack = make_stack(lab, nats, logs, run_wait_seconds="20")
    try:
        info = asyncio.run(_consumer(nats, LAB_CONSUMER))
        assert info is not None and info.config.deliver_subject is None, info
        assert "must not keep" in stack.api.output() and "replacing it" in stack.api.output()
        stack.start_runner("lab", LAB_ENV)
        wait_ready(stack)
    finally:
        stack.stop()


def test_an_app_added_while_everything_runs_gets_its_consumer(lab_stack: Stack, tmp_path: Path) -> None:
    """Local mode: a new app folder appears (`appyard new app`, or the Studio); its runner starts and waits for
    its consumer, which the API creates once it sees the app; then its runs are served."""
    # The runner starts first, from a copy of the workspace that has the app, while the API does not know it yet.
    ahead = tmp_path / "ahead"
    shutil.copytree(lab_stack.workspace, ahead)
    scaffold.new_app(ahead, "extra")
    runner = runner_process(ahead, "extra", lab_stack.nats, lab_stack.logs)
    runner.start()
    lab_stack.runners["extra"] = [runner]
    wait_for(
        lambda: "waiting for consumer runner-local-extra" in runner.output(), 20, "the runner to wait", runner.process
    )
    assert asyncio.run(_consumer(lab_stack.nats, consumer_name("local", "extra"))) is None
    scaffold.new_app(lab_stack.workspace, "extra")
    with lab_stack.client() as client:

        def served() -> bool:
            response = client.post(
                "/api/apps/extra/pages/home/runs", json={"function": "greet", "state": {"form": {"name": "Ada"}}}
            )
            return response.status_code == 200 and response.json()["status"] == "succeeded"

        wait_for(served, 30, "the new app's runs to be served")
    assert "consumer runner-local-extra exists now" in runner.output()


def test_runs_are_served_after_a_restart_that_lost_the_consumer(lab_stack: Stack) -> None:
    """nats-server restarts without its data (a lost volume): the API makes the streams and the consumer again,
    the runner waits for its consumer and pulls again."""
    lab_stack.nats.stop()
    shutil.rmtree(lab_stack.nats.store)
    lab_stack.nats.start()
    with lab_stack.client() as client:

        def works() -> bool:
            response = client.post(
                "/api/apps/lab/pages/main/runs", json={"function": "echo", "state": {"form": {"text": "again"}}}
            )
            return response.status_code == 200 and response.json()["context"]["form"]["message"] == "again"

        wait_for(works, 40, "runs to be served again")
    info = asyncio.run(_consumer(lab_stack.nats, LAB_CONSUMER))
    assert info is not None and (info.config.ack_wait, info.config.max_deliver) == (2.0, 2)


def test_another_apps_runner_learns_nothing_of_bs_results(finished_run: tuple[Stack, str]) -> None:
    """A direct get of B's result is refused; B's runner reads the same key (its own) without trouble."""
    stack, run_id = finished_run

    async def scenario() -> None:
        for permissions, readable in ((EVIL, False), (runner_permissions("local", "lab"), True)):
            session = await connect(stack.nats, permissions)
            js = session.nc.jetstream(timeout=2)
            bucket = KeyValue(RESULTS_BUCKET, f"KV_{RESULTS_BUCKET}", f"$KV.{RESULTS_BUCKET}.", js, direct=True)
            try:
                entry = await bucket.get(f"local.lab.{run_id}")
                assert readable and b"succeeded" in (entry.value or b"")
            except (TimeoutError, nats_py.errors.TimeoutError, KeyNotFoundError):
                assert not readable
            await session.nc.close()
        # The direct get A may use names A's key in its subject; a body asking for another key (or a sequence,
        # or several keys) is refused by the server.
        evil = await connect(stack.nats, EVIL)
        own = f"$JS.API.DIRECT.GET.KV_{RESULTS_BUCKET}.$KV.{RESULTS_BUCKET}.local.evil.{run_id}"
        for body in (
            {"last_by_subj": f"$KV.{RESULTS_BUCKET}.local.lab.{run_id}"},
            {"seq": 1},
            {"multi_last": [f"$KV.{RESULTS_BUCKET}.>"], "batch": 10},
        ):
            reply = await evil.nc.request(own, json.dumps(body).encode(), timeout=5)
            assert not reply.data and (reply.headers or {}).get("Status") == "408", (body, reply.data)
        await evil.nc.close()

    run(scenario())


def test_anonymous_expired_and_forged_connections_are_refused(nats: NatsServer) -> None:
    server = nats

    async def scenario() -> None:
        with pytest.raises((NoServersError, nats_py.errors.Error)):
            await nats_connect(server.url)
        expired = server.credentials(EVIL, "expired", lifetime=-60)
        with pytest.raises((NoServersError, nats_py.errors.Error)):
            await nats_connect(server.url, user_credentials=RawCredentials(expired.text))
        valid = server.credentials(EVIL, "forged")
        forged = Credentials(valid.jwt.rsplit(".", 1)[0] + ".AAAA", valid.seed)  # a bad signature
        with pytest.raises((NoServersError, nats_py.errors.Error)):
            await nats_connect(server.url, user_credentials=RawCredentials(forged.text))
        await (await nats_connect(server.url, user_credentials=RawCredentials(valid.text))).close()

    run(scenario())


async def nats_connect(url: str, **options: Any) -> Client:
    return await nats_py.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3, **options)


def _probe(stack: Stack, function: str, text: str = "") -> dict[str, Any]:
    with stack.client() as client:
        response = client.post(
            "/api/apps/lab/pages/main/runs", json={"function": function, "state": {"form": {"text": text}}}
        )
    body: dict[str, Any] = response.json()
    return body


def test_a_run_finds_no_broker_credentials_or_url(lab_stack: Stack) -> None:
    body = _probe(lab_stack, "snoop")
    assert body["status"] == "succeeded", body
    found = json.loads(body["context"]["form"]["message"])
    creds_marker = "BEGIN NATS USER JWT"
    url = lab_stack.nats.url
    assert not [name for name in found["env"] if name.startswith(("APPYARD_RUNNER_", "APPYARD_API_", "NATS_"))]
    assert not [value for value in found["env"].values() if creds_marker in value or url in value]
    ancestors = found["ancestors"]
    assert len(ancestors) >= 2, "the zygote and the runner"
    zygote, runner = ancestors[0], ancestors[1]
    assert creds_marker not in zygote.get("environ", "") and url not in zygote.get("environ", "")
    assert runner.get("error") == "PermissionError", "the runner's /proc/<pid>/environ must be closed to runs"


def test_a_run_cannot_connect_to_the_broker(lab_stack: Stack) -> None:
    body = _probe(lab_stack, "knock", f"127.0.0.1:{lab_stack.nats.port}")
    assert body["status"] == "succeeded", body
    answer = json.loads(body["context"]["form"]["message"])["answer"]
    assert "Authorization Violation" in answer and "PONG" not in answer


def test_a_flood_of_results_fails_the_run_and_the_runner_goes_on(lab_stack: Stack) -> None:
    body = _probe(lab_stack, "flood")
    assert body["status"] == "failed"
    assert body["error"]["kind"] == "invalid_context"
    assert "larger than the 8 MiB limit and the run was stopped" in body["error"]["message"]
    assert _probe(lab_stack, "echo", "still here")["context"]["form"]["message"] == "still here"


def test_a_run_sees_the_declared_secret_and_nothing_undeclared(lab_stack: Stack) -> None:
    names = ["LAB_SECRET", "LAB_UNDECLARED", "APPYARD_RUNNER_NATS_CREDS", "APPYARD_RUNNER_NATS_URL", "PATH"]
    body = _probe(lab_stack, "reveal", ",".join(names))
    found = json.loads(body["context"]["form"]["message"])
    assert found["LAB_SECRET"] == hashlib.sha256(LAB_ENV["LAB_SECRET"].encode()).hexdigest()
    assert found["LAB_UNDECLARED"] is None
    assert found["APPYARD_RUNNER_NATS_CREDS"] is None and found["APPYARD_RUNNER_NATS_URL"] is None
    assert found["PATH"] is not None


def test_a_results_bucket_made_before_direct_gets_is_switched_on(lab: Path, nats: NatsServer, logs: Path) -> None:
    """Runners can read their results only by direct get: the API switches an older installation's bucket on."""
    server = nats

    async def bucket_allows_direct(create: bool) -> bool:
        connection = await nats_py.connect(server.url, user_credentials=RawCredentials(server.creds()))
        js = connection.jetstream()
        if create:
            await js.create_key_value(bucket=RESULTS_BUCKET, ttl=3600.0)
        info = await js.stream_info(f"KV_{RESULTS_BUCKET}")
        await connection.close()
        return bool(info.config.allow_direct)

    assert not asyncio.run(bucket_allows_direct(create=True))
    stack = make_stack(lab, server, logs)
    try:
        assert asyncio.run(bucket_allows_direct(create=False))
    finally:
        stack.stop()
