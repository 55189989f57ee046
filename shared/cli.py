"""Operator commands: `token`, `migrate`, `topics`, `dlq-replay`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.auth import ROLES, mint_token
from shared.consumer import replay_dead_letters
from shared.kafka import create_topics, make_producer
from shared.migrations import upgrade
from shared.settings import ServiceSettings
from shared.topology import SERVICE_NAMES, spec

DEFAULT_DEPT = {"agent": "frontdesk_10086", "frontline": "service_hall"}


def _token(args: argparse.Namespace) -> None:
    settings = ServiceSettings()
    sub = args.sub or f"staff-{args.role.replace('_', '-')}-001"
    dept = args.dept or DEFAULT_DEPT.get(args.role)
    print(
        mint_token(
            secret=settings.jwt_secret, sub=sub, roles=[args.role], dept=dept, name=args.name
        )
    )


def _migrate(args: argparse.Namespace) -> None:
    unknown = set(args.services) - set(SERVICE_NAMES)
    if unknown:
        raise SystemExit(f"unknown service(s): {', '.join(sorted(unknown))}")
    for name in args.services or SERVICE_NAMES:
        settings = spec(name).settings()
        upgrade(name, settings.resolved_database_url, settings.db_schema)
        print(f"migrated {name}")


def _topics(args: argparse.Namespace) -> None:
    asyncio.run(
        create_topics(
            ServiceSettings().kafka_bootstrap_servers,
            partitions=args.partitions,
            replication=args.replication,
        )
    )


def _dlq_replay(args: argparse.Namespace) -> None:
    async def run() -> int:
        bootstrap = ServiceSettings().kafka_bootstrap_servers
        producer = make_producer(bootstrap, client_id="dlq-replay")
        await producer.start()
        try:
            return await replay_dead_letters(bootstrap, args.service, producer=producer)
        finally:
            await producer.stop()

    print(f"replayed {asyncio.run(run())} record(s) for {args.service}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("token", help="print a dev bearer token (embedded HS256 secret)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--dept")
    p.add_argument("--sub")
    p.add_argument("--name")
    p.set_defaults(func=_token)
    p = sub.add_parser("migrate", help="migrate service databases to head")
    p.add_argument("services", nargs="*", help=f"default: all of {', '.join(SERVICE_NAMES)}")
    p.set_defaults(func=_migrate)
    p = sub.add_parser("topics", help="create the topics (and dead-letter topics)")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--replication", type=int, default=1)
    p.set_defaults(func=_topics)
    p = sub.add_parser("dlq-replay", help="re-publish a service's dead-lettered events")
    p.add_argument("service", choices=SERVICE_NAMES)
    p.set_defaults(func=_dlq_replay)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
