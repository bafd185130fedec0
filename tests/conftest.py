"""Shared fixtures: services (PostgreSQL, Redis), users with tokens, live daphne servers."""

import os
from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings

from tests.support.factories import ProjectRoom, project_room_make
from tests.support.redis_server import RedisServer
from tests.support.servers import TroupeServer, scrape_now
from tests.support.waiting import wait_until

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashing() -> Iterator[None]:
    """Users made by the tests hash their passwords once, not 1.5 M times (see
    ``tests.support.hashers``)."""
    with override_settings(PASSWORD_HASHERS=["tests.support.hashers.OneIterationPBKDF2"]):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests touching the database or live servers carry the ``db`` marker."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if {"db", "transactional_db", "live", "project_room"} & set(
            fixtures
        ) or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the suite uses; in CI its absence fails, locally it skips."""
    url = os.environ.get("TROUPE_TEST_REDIS_URL", "")
    if not url:
        message = "Redis missing: start redis-server on 127.0.0.1:6379 (see scripts/test-suite)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private Redis the test may stop (CI always has redis-server installed)."""
    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def project_room(transactional_db: None) -> ProjectRoom:
    """A unique project (lead, editor, viewer, outsider) committed for live servers to see."""
    return project_room_make()


@pytest.fixture
def server_factory(transactional_db: None) -> Iterator[Callable[..., TroupeServer]]:
    """Start real daphne servers; all are stopped at the end of the test."""
    started: list[TroupeServer] = []

    def start(**kwargs: object) -> TroupeServer:
        server = TroupeServer(**kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class SharedServer:
    """A daphne process that a module's tests take turns on, started again only when a
    test left it dead: starting and stopping one costs 1.5-2.5 s on this 2-core machine,
    and ~70 tests need just *a* server (those that restart, kill or configure one use
    ``server_factory``)."""

    def __init__(self) -> None:
        self.server: TroupeServer | None = None

    def take(self) -> TroupeServer:
        server = self.server
        if server is None or server.exited:
            server = self.server = TroupeServer().start()
        return server

    def settle(self) -> None:
        """Wait until what the last test sent is stored, its sockets are gone and its
        documents unloaded (0.5 s after their last socket, ``TroupeServer``'s setting).

        The test database is emptied (TRUNCATE) after every test. An unload's compaction
        running at that moment deadlocked with it (seen once in CI), and an update
        committed after it would name a document that no longer exists."""
        server = self.server
        if server is None or server.exited:
            return

        def quiet() -> bool:
            metrics = scrape_now(server)
            return (
                metrics.get("troupe_open_connections", 0.0) == 0
                and metrics.get("troupe_persist_queue_depth", 0.0) == 0
                and metrics.get("troupe_rooms_in_memory", 0.0) == 0
            )

        wait_until(quiet, 10, "the shared server kept sockets, queued updates or documents")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="module")
def shared_server(django_db_setup: None) -> Iterator[SharedServer]:
    shared = SharedServer()
    yield shared
    shared.stop()


@pytest.fixture
def live(shared_server: SharedServer, transactional_db: None) -> Iterator[TroupeServer]:
    """A real daphne server on the test database and the in-memory channel layer, shared
    by the tests of a module (see ``SharedServer``); its state of a previous test is only
    documents nobody uses any more."""
    yield shared_server.take()
    shared_server.settle()
