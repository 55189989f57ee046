"""The broker's epoch: a marker record that tells a relay whether the broker still holds what
it was sent.

The embedded broker keeps everything in memory, so a broker that dies and is started again
comes back empty, with the same cluster id. The first relay to reach an empty broker writes
a marker record (a fresh UUID) to `complaints.epoch.v1`; the record at the topic's first
offset names the broker's current epoch, and its timestamp says when the epoch began. An
outbox row marked sent before that moment was sent to an earlier broker (or before this
one was marked), so it may never have been consumed: the relay sends it again and the
consumers' inboxes drop what they had already applied. On Apache Kafka the marker lives as
long as the cluster, so the check finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.kafka import EPOCH_TOPIC, create_topics

log = logging.getLogger(__name__)

_TP = TopicPartition(EPOCH_TOPIC, 0)


@dataclass(frozen=True)
class Epoch:
    id: str
    began_at: datetime


class BrokerEpoch:
    """Reads (and, on an empty broker, writes) the epoch marker."""

    def __init__(self, bootstrap: str, producer: AIOKafkaProducer, *, timeout_s: float = 5.0):
        self.bootstrap = bootstrap
        self.producer = producer
        self.timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None

    async def current(self) -> Epoch:
        """The broker's epoch; creates the topics and the marker when the broker is empty."""
        try:
            return await asyncio.wait_for(self._current(), self.timeout_s * 3)
        except BaseException:
            await self.close()  # a fresh connection next time (the broker may have restarted)
            raise

    async def _current(self) -> Epoch:
        consumer = await self._reader()
        if EPOCH_TOPIC not in await consumer.topics():
            # An empty broker: the topics are created before anything is sent to them, so
            # no topic is auto-created with other partitions (the key -> partition map).
            await create_topics(self.bootstrap, timeout_s=self.timeout_s * 2)
            await consumer.topics()
        consumer.assign([_TP])
        first = (await consumer.beginning_offsets([_TP]))[_TP]
        end = (await consumer.end_offsets([_TP]))[_TP]
        if end <= first:
            await self.producer.send_and_wait(
                EPOCH_TOPIC, value=str(uuid.uuid4()).encode(), key=b"epoch", partition=0
            )
            log.warning("the broker is empty: marked a new epoch")
        consumer.seek(_TP, first)
        record = await asyncio.wait_for(consumer.getone(_TP), self.timeout_s)
        return Epoch(
            id=bytes(record.value or b"").decode(),
            began_at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        )

    async def _reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="epoch-reader",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=int(self.timeout_s * 1000) + 1000,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)
