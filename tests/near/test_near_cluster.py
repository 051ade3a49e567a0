"""The near cache (NEAR_CACHE) on a private 3-master Redis Cluster.

Each primary pushes invalidations of its own keys, so the near cache tracks every primary and
watches the slot map (:mod:`cachefresh.near.cluster`). What must hold, as on one Redis: a near
hit costs no round trip; a fill overtaken by an invalidation from any node is dropped; a write
in another process is seen, under a storm, at 0 stale. And per node: a node silent or down
takes only the rows that depend on it out of service, and flushes them; a slot moved to a node
that lacks its keys (what a failover to a lagging replica does) flushes the rows of both nodes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, near
from cachefresh.checks import check_near_cache
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.near_workers import near_reader
from tests.support.private_cache import assert_clean, make_articles
from tests.support.redis_servers import RedisCluster, cache_entry, redis_cluster, run_fault_workers
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]

CLIENT = "cachefresh.store.cluster.RedisClusterClient"
MAX_LAG = 0.3


@dataclass
class OnCluster:
    cluster: RedisCluster
    caches: dict[str, Any]
    cachefresh: dict[str, Any]

    def full(self, key: str) -> str:
        return get_store().store.make_key(key)  # type: ignore[attr-defined,no-any-return]

    def node_of(self, key: str) -> int:
        """Which of ``cluster.nodes`` owns the full key of ``key`` now."""
        with self.cluster.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", self.full(key)))
        return self.owner_of(slot)

    def owner_of(self, slot: int) -> int:
        with self.cluster.nodes[0].client() as client:
            for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if first <= slot <= last:
                    return [node.port for node in self.cluster.nodes].index(primary[1])
        raise AssertionError(f"slot {slot} has no owner")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    require_servers()
    with redis_cluster() as running:
        yield running


@pytest.fixture
def on_cluster(cluster: RedisCluster) -> Iterator[OnCluster]:
    setup = OnCluster(
        cluster,
        {**settings.CACHES, "cluster": cache_entry(cluster.url, CLIENT_CLASS=CLIENT)},
        {
            **settings.CACHEFRESH,
            "CACHE": "cluster",
            "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
            "RETRY_INTERVAL": 0.2,
            "NEAR_CACHE": {"MAX_LAG": MAX_LAG},
        },
    )
    ACTIVE["alias"] = "pg"
    try:
        with override_settings(CACHES=setup.caches, CACHEFRESH=setup.cachefresh):
            yield setup
    finally:
        ACTIVE["alias"] = "default"


@contextlib.contextmanager
def serving() -> Iterator[near.NearCache]:
    cache = near.current()
    assert cache is not None
    assert cache.wait_serving(5), "tracking did not come up on every primary"
    yield cache


def token_of(pk: int) -> str:
    return RowKeys(registry.plan(Article).table_tag("pg"), pk).token


def generation() -> str:
    return registry.plan(Article).keys_of("pg")[2]


def entry_of(pk: int) -> str:
    return RowKeys(registry.plan(Article).table_tag("pg"), pk).entry


def held(cache: near.NearCache, pk: int) -> bool:
    """Whether the tier would serve the row now."""
    return cache.tier.get(entry_of(pk)) is not None


def warm(pks: list[int]) -> None:
    """Miss (fills Redis), then Redis hits (fill the near tier)."""
    for _ in range(3):
        cached_get_many(Article, pks)


def foreign_write(on_cluster: OnCluster, pk: int, views: int) -> None:
    """What a write in another process does: the row in the database, then its token retired
    on whichever node owns it now."""
    with unseen_cursor("pg") as cursor:
        cursor.execute(f"UPDATE {Article._meta.db_table} SET views = %s WHERE id = %s", [views, pk])
    with contextlib.closing(on_cluster.cluster.client()) as client:
        client.delete(on_cluster.full(token_of(pk)))


def seen(pk: int, views: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cached_get(Article, pk).views == views:
            return True
        time.sleep(0.005)
    return cached_get(Article, pk).views == views


def spread(on_cluster: OnCluster, count: int) -> tuple[list[int], dict[int, list[int]]]:
    """``count`` rows, and their pks by the node that owns each row's token."""
    pks = make_articles(count)
    by_node: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for pk in pks:
        by_node[on_cluster.node_of(token_of(pk))].append(pk)
    assert all(by_node.values()), "the rows should be spread over all three primaries"
    return pks, by_node


# --- hits, fills, other processes -----------------------------------------------------------


def test_near_hits_on_every_node_and_a_foreign_write_is_heard(
    on_cluster: OnCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    pks, by_node = spread(on_cluster, 30)
    with serving() as cache:
        assert check_near_cache() == []
        warm(pks)
        store = get_store()
        calls: list[Any] = []
        real = store.get_many
        store.get_many = lambda *a, **k: calls.append(a) or real(*a, **k)  # type: ignore[method-assign]
        try:
            assert {
                pk: a.views for pk, a in cached_get_many(Article, pks).items()
            } == dict.fromkeys(pks, 0)
            assert all(cached_get(Article, pk).views == 0 for pk in pks)
        finally:
            del store.get_many
        assert calls == [], "a near hit made a round trip"
        for views, node_pks in enumerate(by_node.values(), 1):
            foreign_write(on_cluster, node_pks[0], views)
            assert seen(node_pks[0], views, within=0.5), "an invalidation from a node was lost"
        assert len(cache.tier) >= len(pks) - 3
        call_command("cachefresh", "stats", "--json")
    assert '"tracking_processes": 1' in capsys.readouterr().out


def test_a_fill_overtaken_by_an_invalidation_from_another_node_is_dropped(
    on_cluster: OnCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row's token lives on one primary; the write lands between that node's reply and
    the store into the tier, and is pushed by that node alone."""
    pk = make_articles(1)[0]
    with serving() as cache:
        cached_get(Article, pk)  # Redis holds the row; the tier not yet
        assert not held(cache, pk)
        real_read = cache.tracker.read

        def read_then_invalidate(keys: list[str]) -> list[Any]:
            reply = real_read(keys)  # the row at views=0, valid
            foreign_write(on_cluster, pk, 5)
            deadline = time.monotonic() + 5
            while cache.tier._watch and time.monotonic() < deadline:
                time.sleep(0.001)  # until the node's listener has heard the push
            assert not cache.tier._watch, "no node's listener heard the invalidation"
            return reply

        monkeypatch.setattr(cache.tracker, "read", read_then_invalidate)
        assert cached_get(Article, pk).views == 0  # what Redis said before the write
        monkeypatch.undo()
        assert not held(cache, pk), "a fill older than an invalidation was kept"
        assert cached_get(Article, pk).views == 5


def test_storm_with_the_near_cache_on_the_cluster_leaves_nothing_stale(
    on_cluster: OnCluster,
) -> None:
    pks = make_articles(30, body="x" * 500)
    reports = run_fault_workers(on_cluster.caches, on_cluster.cachefresh, pks, seconds=2.5)
    assert_clean(reports)
    assert all(report["near_hits"] > 0 for report in reports), "the near cache was not in play"


# --- outages: per node --------------------------------------------------------------------------


def test_a_silent_node_takes_out_and_flushes_only_the_rows_that_depend_on_it(
    on_cluster: OnCluster,
) -> None:
    pks, by_node = spread(on_cluster, 30)
    quiet = next(n for n in (0, 1, 2) if n != on_cluster.node_of(generation()))
    others = [pk for node, node_pks in by_node.items() if node != quiet for pk in node_pks]
    with serving() as cache:
        warm(pks)
        assert all(held(cache, pk) for pk in pks)
        on_cluster.cluster.nodes[quiet].pause()
        try:
            time.sleep(MAX_LAG)
            assert not any(held(cache, pk) for pk in by_node[quiet]), "served past MAX_LAG"
            time.sleep(MAX_LAG + 0.2)
            flushed = [entry_of(pk) not in cache.tier._rows for pk in by_node[quiet]]
            assert all(flushed), "the silent node's rows were not flushed"
            assert all(held(cache, pk) for pk in others), "rows of the other nodes went too"
        finally:
            on_cluster.cluster.nodes[quiet].resume()
        assert cache.wait_serving(5), "tracking did not come back"


def test_a_node_killed_and_restarted_empty_leaves_nothing_stale(on_cluster: OnCluster) -> None:
    """The node comes back with none of its keys, so nothing pushes the rows it held: only the
    flush of its link (dropped, then a new session) keeps them from being served."""
    pks, by_node = spread(on_cluster, 30)
    dead = next(n for n in (0, 1, 2) if n != on_cluster.node_of(generation()))
    node = on_cluster.cluster.nodes[dead]
    with serving() as cache:
        warm(pks)
        node.kill()
        with unseen_cursor("pg") as cursor:  # written while the node is down, by another program
            cursor.execute(f"UPDATE {Article._meta.db_table} SET views = 7")
        node.start()  # its nodes.conf keeps its slots; its keys are gone
        assert cache.wait_serving(5), "tracking did not come back"
        for pk in by_node[dead]:
            assert cached_get(Article, pk).views == 7, "a row of the restarted node was stale"


# --- the slot map ---------------------------------------------------------------------------


def give_slot(on_cluster: OnCluster, slot: int, to: int) -> None:
    """Move ``slot`` to ``cluster.nodes[to]`` without its keys, as a failover to a replica that
    had not received them does. The old owner lets go of the slot first, so no write lands on
    it once the new owner takes writes; its keys stay behind, unreachable, and it pushes no
    invalidation for them."""
    nodes = on_cluster.cluster.nodes
    with nodes[on_cluster.owner_of(slot)].client() as client:
        client.execute_command("CLUSTER", "DELSLOTS", slot)
    with nodes[to].client() as client:
        node_id = client.execute_command("CLUSTER", "MYID")
        client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id)
        client.execute_command("CLUSTER", "BUMPEPOCH")
    deadline = time.monotonic() + 5
    while any(owner_seen_by(node, slot) != nodes[to].port for node in nodes):
        assert time.monotonic() < deadline, "the cluster did not agree on the move"
        time.sleep(0.01)


def owner_seen_by(node: Any, slot: int) -> int:
    with node.client() as client:
        for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if first <= slot <= last:
                return int(primary[1])
    return 0


def slot_of(on_cluster: OnCluster, key: str) -> int:
    with on_cluster.cluster.nodes[0].client() as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", on_cluster.full(key)))


def test_a_slot_moved_to_a_node_without_its_keys_leaves_nothing_stale(
    on_cluster: OnCluster,
) -> None:
    """Only the watcher can tell: the old owner drops the row's token and pushes nothing, and
    the new owner never had it, so a write there retires nothing."""
    pks = make_articles(3)
    with serving() as cache:
        warm(pks)
        moved = pks[0]
        slot = slot_of(on_cluster, token_of(moved))
        give_slot(on_cluster, slot, (on_cluster.owner_of(slot) + 1) % 3)
        foreign_write(on_cluster, moved, 9)
        # Past the primaries' brief disagreement (during which nothing of theirs is served,
        # and a read refills the row): the map agreed again, and the row read before it moved
        # must be gone.
        time.sleep(MAX_LAG + 0.2)
        assert cache.wait_serving(5)
        assert cached_get(Article, moved).views == 9, "a row of a moved slot was served stale"
        assert all(cached_get(Article, pk).views == 0 for pk in pks[1:])


def migrate_slot(on_cluster: OnCluster, slot: int, to: int) -> None:
    """Move ``slot`` to ``cluster.nodes[to]`` with its keys, as ``redis-cli --cluster reshard``
    does: importing and migrating marks, ``MIGRATE`` until the old owner holds none of its keys
    (meanwhile it answers ``ASK`` for the keys that left), then ``SETSLOT … NODE`` on every
    node, the new owner first."""
    nodes = on_cluster.cluster.nodes
    source, target = nodes[on_cluster.owner_of(slot)], nodes[to]
    with source.client() as old, target.client() as new:
        old_id, new_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (old, new))
        new.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", old_id)
        old.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", new_id)
        while keys := old.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            old.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in [target, source, *(node for node in nodes if node not in (source, target))]:
        with node.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", new_id)


@pytest.mark.parametrize(
    "move", [give_slot, migrate_slot], ids=["without their keys", "with their keys"]
)
def test_storm_while_slots_move_leaves_nothing_stale(on_cluster: OnCluster, move: Any) -> None:
    """Slots move mid-storm (those of rows alive at that moment, as the storm deletes and
    recreates rows all along, and the table generation's), every process holding rows near:
    handed to nodes without their keys, only the watcher can tell; resharded with them, the
    old owner's ``MIGRATE`` deletes each key there, which pushes its invalidation."""
    pks = make_articles(30, body="x" * 500)

    def moves() -> None:
        time.sleep(0.8)
        alive = list(Article.objects.values_list("pk", flat=True)[:8])
        slots = {slot_of(on_cluster, token_of(pk)) for pk in alive}
        for slot in [*sorted(slots), slot_of(on_cluster, generation())]:
            move(on_cluster, slot, (on_cluster.owner_of(slot) + 1) % 3)
        time.sleep(1.0)

    reports = run_fault_workers(on_cluster.caches, on_cluster.cachefresh, pks, during=moves)
    assert_clean(reports)
    assert all(report["near_hits"] > 0 for report in reports), "the near cache was not in play"


def test_another_process_sees_a_write_to_a_slot_that_moved(on_cluster: OnCluster) -> None:
    """A process holds a row near; its token's slot moves to a node without its keys; once
    the primaries agree, this process writes the row: the other sees the write."""
    pk = make_articles(1)[0]
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(
        target=near_reader, args=(on_cluster.caches, on_cluster.cachefresh, theirs), daemon=True
    )
    child.start()
    try:
        ours.send(pk)
        ours.send(1)
        assert ours.poll(60) and ours.recv() == "ready"  # it holds the row, views 0
        slot = slot_of(on_cluster, token_of(pk))
        give_slot(on_cluster, slot, (on_cluster.owner_of(slot) + 1) % 3)
        time.sleep(MAX_LAG + 0.2)  # past the primaries' disagreement
        Article.objects.filter(pk=pk).update(views=1)
        committed = time.monotonic()
        assert ours.poll(10)
        delay = ours.recv() - committed
        ours.send(None)
        assert ours.poll(10) and ours.recv() > 0, "the other process served no near hit"
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert delay < 1.0, f"the other process saw the write after {delay:.2f} s (stale until then)"


# --- a cluster the near cache cannot track ------------------------------------------------------


def test_a_primary_refusing_tracking_is_E007_and_holds_nothing(on_cluster: OnCluster) -> None:
    node = on_cluster.cluster.nodes[2]
    with node.client() as client:
        client.execute_command("ACL", "SETUSER", "default", "-client|tracking")
    try:
        pks, by_node = spread(on_cluster, 30)  # its writes start the near cache
        (error,) = check_near_cache()
        assert error.id == "cachefresh.E007"
        assert f"127.0.0.1:{node.port}" in error.msg and "CLIENT TRACKING" in error.msg
        assert "+client|tracking" in error.hint
        cache = near.current()
        assert cache is not None
        time.sleep(MAX_LAG)
        assert not cache.tier.serving()
        warm(pks)  # no error reaches a caller; nothing of that node is held
        assert {pk: a.views for pk, a in cached_get_many(Article, pks).items()} == dict.fromkeys(
            pks, 0
        )
        assert not any(held(cache, pk) for pk in by_node[2])
    finally:
        with node.client() as client:
            client.execute_command("ACL", "SETUSER", "default", "+client|tracking")
