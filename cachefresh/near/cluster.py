"""The near cache on a Redis Cluster: one tracker per primary, and the slot map watched.

A cluster node pushes invalidations of its own keys only, so one tracking link does not cover
a cluster. Here every primary gets a :class:`~cachefresh.near.tracking.Tracker` of its own (a
subscriber, a heartbeat and a pool of data connections that ``REDIRECT`` to it): a row is read
from the primaries that own its keys, on their tracked connections, and names their
:class:`~cachefresh.near.tier.Link`\\ s. Its row token and its table generation may live on two
different primaries: both links must be heard from for the row to be served.

Default tracking per primary, not ``BCAST``: with ``BCAST PREFIX`` every write under the
prefix, fills and fill locks included, is pushed to every process, which then has to match
each pushed key against what it holds; default tracking pushes a key only to the processes
that read it. Both need one connection per primary to listen on, so ``BCAST`` saves nothing
there (docs/guarantees.md, "The near cache on Redis Cluster").

**The slot map is a link too.** A failover or a resharding moves slots between nodes: a row
tracked on the old owner would not hear of writes made on the new one. A watcher thread asks
every primary heard from for ``CLUSTER SLOTS`` every ``max_lag / 4`` seconds (at once when a
read meets ``MOVED`` or ``ASK``). When the primaries agree on a map, the slot-map link may
serve until the time the round began plus ``max_lag``; every row names that link, so a map
unconfirmed for ``max_lag`` serves nothing. When the map changed, every node that gained or
lost a slot has its link flushed (rows and fills in progress), a new primary gets a tracker,
and a node that is no longer a primary loses its tracker. While the primaries disagree (gossip
in flight), the nodes they disagree about are flushed and the map is not confirmed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import RedisClusterException, ResponseError

from cachefresh.near.tier import Link, NearTier
from cachefresh.near.tracking import Tracker
from cachefresh.store.errors import cache_errors

logger = logging.getLogger("cachefresh")

#: Slot ranges and their primary, ``((first, last, "host:port"), ...)``, sorted.
SlotMap = tuple[tuple[int, int, str], ...]

#: The link of a slot no tracker follows: it never serves.
_UNTRACKED = Link("untracked")


class ClusterTracking:
    def __init__(self, tier: NearTier, client: Any, retry_interval: float, name: str) -> None:
        self.tier = tier
        self.client = client
        self.retry_interval = retry_interval
        self.name = name
        self.slots_link = Link("slot map")
        tier.links.append(self.slots_link)
        self._map: SlotMap = ()
        #: slot -> "host:port" of its primary, as the last agreed map says
        self._owners: list[str | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        #: "host:port" -> the tracker of that primary
        self._trackers: dict[str, Tracker] = {}
        #: "host:port" -> a plain client of that node, to ask it for the slot map
        self._askers: dict[str, Any] = {}
        self._look_now = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="cachefresh-near-slots", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._look_now.set()
        self._thread.join(max(1.0, 2 * self.tier.max_lag))
        for tracker in self._trackers.values():
            tracker.stop()
        for asker in self._askers.values():
            asker.close()

    @property
    def tracking(self) -> bool:
        trackers = self._trackers
        return bool(trackers) and all(tracker.tracking for tracker in trackers.values())

    # --- reads ------------------------------------------------------------------------------

    def links_of(self, *full_keys: str) -> tuple[Link, ...]:
        """The links a row read under ``full_keys`` depends on: their primaries' and the map's."""
        owners, trackers = self._owners, self._trackers
        links = [self.slots_link]
        for key in full_keys:
            tracker = trackers.get(owners[key_slot(key.encode())])  # type: ignore[arg-type]
            link = _UNTRACKED if tracker is None else tracker.link
            if link not in links:
                links.append(link)
        return tuple(links)

    def read(self, full_keys: Sequence[str]) -> list[Any]:
        """The values under ``full_keys``, each read on a tracked connection of its primary. A
        key whose primary is unknown, or that its node no longer owns, reads as absent (a miss),
        and the slot map is looked at now."""
        owners, trackers = self._owners, self._trackers
        groups: dict[str | None, list[int]] = {}
        for index, key in enumerate(full_keys):
            groups.setdefault(owners[key_slot(key.encode())], []).append(index)
        values: list[Any] = [None] * len(full_keys)
        for owner, indexes in groups.items():
            tracker = trackers.get(owner)  # type: ignore[arg-type]
            if tracker is None:
                self._look_now.set()
                continue
            replies = tracker.read_each([full_keys[index] for index in indexes])
            for index, reply in zip(indexes, replies, strict=True):
                if isinstance(reply, ResponseError):  # MOVED, ASK, CLUSTERDOWN: the map moved
                    self._look_now.set()
                else:
                    values[index] = reply
        return values

    # --- the slot map -----------------------------------------------------------------------

    def _watch(self) -> None:
        interval = self.tier.max_lag / 4
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._look(began)
            except _failures() as exc:
                logger.info("cachefresh: near cache could not read the slot map (%s)", exc)
            self._look_now.wait(max(0.0, began + interval - time.monotonic()))
            self._look_now.clear()
            self._stop.wait(0.005)  # a burst of MOVED replies looks once, not once a reply

    def _look(self, began: float) -> None:
        views = []
        for host, port in self._primaries():
            try:
                views.append(self._slots_seen_by(host, port))
            except cache_errors():
                continue  # a node down: its own link goes silent and is flushed
        if not views:
            return
        agreed = views[0]
        if any(view != agreed for view in views[1:]):
            # Gossip in flight: whatever they disagree about may have moved already.
            self._flush(set().union(*(_moved(agreed, view) for view in views[1:])))
            return
        if agreed != self._map:
            self._apply(agreed)
        self.slots_link.until = began + self.tier.max_lag

    def _primaries(self) -> list[tuple[str, int]]:
        """The primaries to ask: those heard from now (a silent one would stall the round by a
        socket timeout, and serves nothing anyway), or, knowing none, the client's."""
        now = time.monotonic()
        heard = [name for name, t in self._trackers.items() if t.link.until >= now]
        if not heard:
            return [(node.host, int(node.port)) for node in self.client.get_primaries()]
        return [_address(name) for name in sorted(heard)]

    def _slots_seen_by(self, host: str, port: int) -> SlotMap:
        name = f"{host}:{port}"
        asker = self._askers.get(name)
        if asker is None:
            pool = self._template().connection_pool
            # A node that hangs must not hold up the round past the map's MAX_LAG: the rows of
            # every other node would stop being served with it.
            wait = self.tier.max_lag / 4
            kwargs = dict(
                pool.connection_kwargs,
                host=host,
                port=port,
                socket_timeout=wait,
                socket_connect_timeout=wait,
            )
            asker = self._askers[name] = Redis(
                connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs)
            )
        return _parse_slots(asker.execute_command("CLUSTER SLOTS"), host)

    def _template(self) -> Any:
        """A node's client of the application's cluster client: its options are ours."""
        return self.client.get_redis_connection(self.client.get_primaries()[0])

    def _apply(self, new: SlotMap) -> None:
        moved = _moved(self._map, new)
        primaries = {name for _, _, name in new}
        trackers = dict(self._trackers)
        for name in list(trackers):
            if name not in primaries:
                self._retire_tracker(trackers.pop(name))
        for name in primaries - trackers.keys():
            trackers[name] = self._new_tracker(name)
        owners: list[str | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        for first, last, name in new:
            owners[first : last + 1] = [name] * (last - first + 1)
        # Routes first, then the flush: a fill begun on the old routes names a flushed link.
        self._owners, self._trackers, self._map = owners, trackers, new
        self._flush(moved)
        if moved:
            logger.info("cachefresh: the cluster's slot map changed; flushed %s", sorted(moved))
            self.client.nodes_manager.initialize()  # the shared tier's routes too

    def _flush(self, names: set[str]) -> None:
        for name in names:
            tracker = self._trackers.get(name)
            if tracker is not None:
                self.tier.flush(tracker.link, until=tracker.link.until)

    def _new_tracker(self, name: str) -> Tracker:
        link = Link(name)
        tracker = Tracker(
            self.tier, self._template(), self.retry_interval, self.name, link, _address(name)
        )
        self.tier.links.append(link)
        tracker.start()
        return tracker

    def _retire_tracker(self, tracker: Tracker) -> None:
        tracker.stop()  # its thread flushes its link on the way out
        self.tier.flush(tracker.link)
        self.tier.links.remove(tracker.link)


def _failures() -> tuple[type[BaseException], ...]:
    """The cache's failures, and redis-py's cluster errors (not subclasses of ``RedisError``)."""
    return (*cache_errors(), RedisClusterException)


def _address(name: str) -> tuple[str, int]:
    host, _, port = name.rpartition(":")
    return host, int(port)


def _parse_slots(reply: Any, asked: str) -> SlotMap:
    """``CLUSTER SLOTS`` as redis-py parses it (``{(first, last): {"primary": (host, port),
    ...}}``) or raw (``[[first, last, [host, port, id], ...], ...]``). A node that gives no
    host (``""``) is at the address it was asked on."""
    ranges = []
    if isinstance(reply, dict):
        for (first, last), nodes in reply.items():
            host, port = nodes["primary"][:2]
            ranges.append((int(first), int(last), _name(host, port, asked)))
    else:
        for first, last, primary, *_ in reply:
            ranges.append((int(first), int(last), _name(primary[0], primary[1], asked)))
    return tuple(sorted(ranges))


def _name(host: Any, port: Any, asked: str) -> str:
    text = host.decode() if isinstance(host, bytes) else str(host)
    return f"{text or asked}:{int(port)}"


def _moved(old: SlotMap, new: SlotMap) -> set[str]:
    """The nodes that gained or lost a slot between two maps."""
    owners: dict[int, str] = {}
    for first, last, name in old:
        owners.update(dict.fromkeys(range(first, last + 1), name))
    changed: set[str] = set()
    for first, last, name in new:
        for slot in range(first, last + 1):
            before = owners.pop(slot, None)
            if before != name:
                changed.add(name)
                if before is not None:
                    changed.add(before)
    changed.update(owners.values())  # slots no one owns any more
    return changed
