"""cachefresh on a private 3-master Redis Cluster, through ``cachefresh.store.cluster``.

The cluster is started for this module on free loopback ports (``--cluster-enabled yes`` and
``redis-cli --cluster create``) and stopped at its end.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from cachefresh import cached_get, cached_get_many, invalidate_model
from cachefresh.keys import RowKeys
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.redis_servers import (
    RedisCluster,
    cache_entry,
    redis_cluster,
    redis_server,
    run_fault_workers,
)
from tests.support.routers import ACTIVE
from tests.support.servers import require_servers
from tests.testapp.models import Article, CharPk, UUIDPk

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.servers,
    pytest.mark.slow,
]

CLIENT = "cachefresh.store.cluster.RedisClusterClient"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    require_servers()
    with redis_cluster() as running:
        yield running


@pytest.fixture
def on_cluster(cluster: RedisCluster) -> Iterator[dict[str, Any]]:
    config = {
        "caches": {**settings.CACHES, "cluster": cache_entry(cluster.url, CLIENT_CLASS=CLIENT)},
        "cachefresh": {
            **settings.CACHEFRESH,
            "CACHE": "cluster",
            "KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        },
    }
    ACTIVE["alias"] = "pg"
    try:
        with override_settings(CACHES=config["caches"], CACHEFRESH=config["cachefresh"]):
            yield config
    finally:
        ACTIVE["alias"] = "default"


def slot(cluster: RedisCluster, key: str) -> int:
    with cluster.nodes[0].client() as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))


def test_cachefresh_talks_to_the_cluster_directly(on_cluster: dict[str, Any]) -> None:
    store = get_store().store
    assert type(store.client).__name__ == "RedisCluster"  # type: ignore[attr-defined]


@pytest.mark.parametrize("pk", [1, 2**62, "plain-code", "ünïcødé {braces} :colons:", uuid.uuid4()])
def test_the_keys_of_one_row_share_a_slot(
    cluster: RedisCluster, on_cluster: dict[str, Any], pk: Any
) -> None:
    model = {int: Article, str: CharPk}.get(type(pk), UUIDPk)
    tag = registry.plan(model).table_tag("pg")
    row = RowKeys(tag, pk)
    make_key = caches["cluster"].make_key
    slots = {slot(cluster, make_key(key)) for key in (row.entry, row.token, row.lock)}
    assert len(slots) == 1


def test_cached_get_many_spans_slots_and_nodes(
    cluster: RedisCluster, on_cluster: dict[str, Any], django_assert_num_queries: Any
) -> None:
    Article.objects.bulk_create(Article(title=f"a{i}", views=i) for i in range(40))
    pks = list(Article.objects.values_list("pk", flat=True))
    tag = registry.plan(Article).table_tag("pg")
    make_key = caches["cluster"].make_key
    owners = set()
    with cluster.client() as client:
        for pk in pks:
            node = client.get_node_from_key(make_key(RowKeys(tag, pk).entry))
            owners.add(node.port)
    assert len(owners) == 3, "the rows should be spread over all three masters"
    expected = {pk: Article.objects.get(pk=pk).views for pk in pks}
    assert {pk: a.views for pk, a in cached_get_many(Article, pks).items()} == expected
    with django_assert_num_queries(0, using="pg"):
        hits = cached_get_many(Article, pks)
        assert cached_get(Article, pks[0]).views == expected[pks[0]]
    assert {pk: a.views for pk, a in hits.items()} == expected


def test_invalidation_on_the_cluster(on_cluster: dict[str, Any]) -> None:
    article = Article.objects.create(title="a")
    other = Article.objects.create(title="b")
    cached_get_many(Article, [article.pk, other.pk])
    article.title = "saved"
    article.save()
    assert cached_get(Article, article.pk).title == "saved"
    Article.objects.filter(pk__in=[article.pk, other.pk]).update(views=3)
    assert {a.views for a in cached_get_many(Article, [article.pk, other.pk]).values()} == {3}
    Article.objects.filter(title="b").update(title="whole table")  # retires the generation
    assert cached_get(Article, other.pk).title == "whole table"
    Article.objects.filter(pk=other.pk).delete()
    with pytest.raises(Article.DoesNotExist):
        cached_get(Article, other.pk)
    invalidate_model(Article)
    assert cached_get(Article, article.pk).title == "saved"


def test_storm_on_the_cluster_leaves_nothing_stale(on_cluster: dict[str, Any]) -> None:
    Article.objects.bulk_create(Article(title=f"a{i}", body="x" * 200) for i in range(45))
    pks = list(Article.objects.order_by("pk").values_list("pk", flat=True))
    reports = run_fault_workers(on_cluster["caches"], on_cluster["cachefresh"], pks, workers=3)
    for report in reports:
        assert report["ops"] > 50, report
        assert report["errors"] == [], report
        assert report["stale_own"] == [], report
        assert report["final_stale"] == [], report
        assert report["hits"] > 0, report  # the cache was in play, not only the database
    truth = dict(Article.objects.values_list("pk", "views"))
    assert {pk: a.views for pk, a in cached_get_many(Article, list(truth)).items()} == truth


@pytest.mark.usefixtures("collector_off")
def test_a_stopped_master_costs_one_timeout_not_one_per_key(
    cluster: RedisCluster, on_cluster: dict[str, Any]
) -> None:
    """redis-py's ClusterPipeline re-sends failed commands one by one (0.2 s each): not here."""
    Article.objects.bulk_create(Article(title=f"a{i}", views=i) for i in range(30))
    pks = list(Article.objects.values_list("pk", flat=True))
    expected = {pk: Article.objects.get(pk=pk).views for pk in pks}
    cached_get_many(Article, pks)
    durations = []
    cluster.nodes[2].pause()  # shorter than the cluster's node timeout: no failover
    began = time.monotonic()
    try:
        for _ in range(40):
            start = time.perf_counter()
            assert {pk: a.views for pk, a in cached_get_many(Article, pks).items()} == expected
            durations.append(time.perf_counter() - start)
            time.sleep(0.01)
    finally:
        cluster.nodes[2].resume()
    probes = 1 + int((time.monotonic() - began) / 1.0)  # the first call, then one per interval
    assert sum(1 for duration in durations if duration > 0.15) <= probes
    assert sum(1 for duration in durations if duration > 0.6) == 0  # each paid one timeout


@pytest.mark.usefixtures("collector_off")
def test_a_node_down_holds_back_no_retirement_of_the_nodes_that_answer(
    cluster: RedisCluster, on_cluster: dict[str, Any]
) -> None:
    """Other processes go on reading the rows of the nodes that answer: a retirement that
    spans a silent node must reach the others at once, and the silent one when it is back."""
    Article.objects.bulk_create(Article(title=f"a{i}") for i in range(30))
    pks = list(Article.objects.values_list("pk", flat=True))
    cached_get_many(Article, pks)  # every row's token exists
    tag = registry.plan(Article).table_tag("pg")
    store = get_store()
    make_key = caches["cluster"].make_key
    by_port: dict[int, list[int]] = {}
    with cluster.client() as client:
        for pk in pks:
            node = client.get_node_from_key(make_key(RowKeys(tag, pk).token))
            by_port.setdefault(node.port, []).append(pk)
    silent, answering = cluster.nodes[2], cluster.nodes[0]
    tokens = [RowKeys(tag, by_port[node.port][0]).token for node in (silent, answering)]

    def exists(node: Any, key: str) -> bool:
        with node.client() as client:
            return bool(client.exists(make_key(key)))

    assert all(exists(node, key) for node, key in zip((silent, answering), tokens, strict=True))
    silent.pause()  # shorter than the cluster's node timeout: no failover
    try:
        store.retire(tokens)  # the silent node's key first: its pipeline fails first
        assert not exists(answering, tokens[1]), "the node that answered kept its token"
        assert store.is_pending(tokens[0]), "the silent node's part is not held"
    finally:
        silent.resume()
    deadline = time.monotonic() + 5
    while store.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not exists(silent, tokens[0]), "the silent node never got its part"


# --- Replicas -----------------------------------------------------------------------------------


@pytest.fixture
def primary_and_replica() -> Iterator[dict[str, Any]]:
    require_servers()
    with redis_server() as primary, redis_server() as replica:
        with replica.client() as client:
            client.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        entry = cache_entry(primary.url)
        entry["LOCATION"] = [primary.url, replica.url]  # django-redis: the first is the primary
        config = {
            "caches": {**settings.CACHES, "replicated": entry},
            "cachefresh": {**settings.CACHEFRESH, "CACHE": "replicated"},
            "replica": replica,
        }
        ACTIVE["alias"] = "pg"
        try:
            with override_settings(CACHES=config["caches"], CACHEFRESH=config["cachefresh"]):
                yield config
        finally:
            ACTIVE["alias"] = "default"


def test_fills_and_checks_never_use_a_replica(
    primary_and_replica: dict[str, Any], django_assert_num_queries: Any
) -> None:
    """With the replica stopped, every cache call still succeeds: all of them go to the primary."""
    article = Article.objects.create(title="a")
    primary_and_replica["replica"].pause()
    try:
        assert cached_get(Article, article.pk).title == "a"
        with django_assert_num_queries(0, using="pg"):
            for _ in range(20):
                assert cached_get(Article, article.pk).title == "a"
                assert cached_get_many(Article, [article.pk])[article.pk].title == "a"
        Article.objects.filter(pk=article.pk).update(title="b")
        assert cached_get(Article, article.pk).title == "b"
        assert not get_store().breaker.failing
    finally:
        primary_and_replica["replica"].resume()


def test_wait_for_replicas_waits_on_each_node_that_took_a_retirement(
    on_cluster: dict[str, Any], cluster: RedisCluster
) -> None:
    """Each primary replicates its own keys, so WAIT goes to every node a retirement touched,
    and only those. This cluster has no replicas: each such node answers 0 within the wait,
    and the shortfall names exactly them."""
    from cachefresh.store.errors import NotReplicated

    store = get_store().store
    store.replicas = 1
    nodes = {node.name for node in store.client.get_primaries()}  # type: ignore[attr-defined]
    keys = [f"wait-{index}" for index in range(40)]
    owners = {store.client.get_node_from_key(store.make_key(k)).name for k in keys[:1]}  # type: ignore[attr-defined]
    with pytest.raises(NotReplicated) as one:
        store.retire(keys[:1])
    assert [name for name in nodes if name in str(one.value)] == sorted(owners)
    with pytest.raises(NotReplicated) as every:
        store.retire(keys)
    spread = {store.client.get_node_from_key(store.make_key(k)).name for k in keys}  # type: ignore[attr-defined]
    assert spread == nodes  # 40 keys reach all three primaries
    assert sorted(name for name in nodes if name in str(every.value)) == sorted(nodes)


def test_wait_for_replicas_returns_once_each_primarys_replica_holds_the_retirement() -> None:
    """A cluster whose three primaries have a replica each: a retirement spread over all of
    them is done (not held, the breaker closed: every node's WAIT saw its replica), and every
    replica has already dropped its keys when it returns."""
    require_servers()
    with redis_cluster(replicas=1) as replicated:
        caches = {
            **settings.CACHES,
            "cluster": cache_entry(replicated.url, timeout=1.0, CLIENT_CLASS=CLIENT),
        }
        config = {**settings.CACHEFRESH, "CACHE": "cluster", "WAIT_FOR_REPLICAS": 1}
        with override_settings(CACHES=caches, CACHEFRESH=config):
            store: Any = get_store().store
            keys = [f"wait-{index}" for index in range(40)]
            full = [store.make_key(key) for key in keys]
            with replicated.client() as client:
                for key in full:
                    client.set(key, b"token")
            replicas = [node for node in replicated.nodes if _role(node) == "slave"]
            assert len(replicas) == 3
            deadline = time.monotonic() + 5
            while _held_by_replicas(replicas, full) < len(full):
                assert time.monotonic() < deadline, "the replicas did not catch up"
                time.sleep(0.05)
            guarded = get_store()
            guarded.retire(keys)
            assert not guarded.outbox and not guarded.breaker.failing
            assert _held_by_replicas(replicas, full) == 0


def _role(node: Any) -> str:
    with contextlib.closing(node.client()) as client:
        return str(client.info("replication")["role"])


def _held_by_replicas(replicas: list[Any], keys: list[str]) -> int:
    """How many of ``keys`` the replicas hold (each replica those of its primary's slots)."""
    held = 0
    for node in replicas:
        with contextlib.closing(node.client()) as client:
            client.execute_command("READONLY")
            for key in keys:
                # MOVED: another primary's key.
                with contextlib.suppress(redis.exceptions.ResponseError):
                    held += bool(client.exists(key))
    return held
