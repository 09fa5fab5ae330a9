"""`zos db upgrade|downgrade|current`: the projection schema (Alembic migrations)."""

from __future__ import annotations

import argparse

from zos.settings import Settings


def add_db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL: sqlite:///PATH or postgresql://... "
                                     "(env ZOS_DB, default sqlite:///$ZOS_DATA/zos.db)")


def db_url(settings: Settings) -> str:
    from zos.projections import default_db_url

    return settings.get("db") or default_db_url(settings.data_dir)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="projection database schema (migrations)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    up = verbs.add_parser("upgrade", help="migrate to the newest schema (or --revision)")
    add_db_flag(up)
    up.add_argument("--revision", default="head")
    up.set_defaults(func=upgrade_cmd)
    down = verbs.add_parser("downgrade", help="migrate back to --revision (default: empty)")
    add_db_flag(down)
    down.add_argument("--revision", default="base")
    down.set_defaults(func=downgrade_cmd)
    current = verbs.add_parser("current", help="print the schema revision of the database")
    add_db_flag(current)
    current.set_defaults(func=current_cmd)


def upgrade_cmd(args: argparse.Namespace) -> int:
    from zos.projections import current_revision, make_engine, redact, upgrade

    url = db_url(Settings(args, "db"))
    engine = make_engine(url)
    upgrade(engine, args.revision)
    print(f"{redact(url)}: at revision {current_revision(engine)}")
    return 0


def downgrade_cmd(args: argparse.Namespace) -> int:
    from zos.projections import current_revision, downgrade, make_engine, redact

    url = db_url(Settings(args, "db"))
    engine = make_engine(url)
    downgrade(engine, args.revision)
    print(f"{redact(url)}: at revision {current_revision(engine) or 'base'}")
    return 0


def current_cmd(args: argparse.Namespace) -> int:
    from zos.projections import current_revision, head_revision, make_engine, redact

    url = db_url(Settings(args, "db"))
    print(f"{redact(url)}: revision {current_revision(make_engine(url)) or 'base'} "
          f"(head {head_revision()})")
    return 0
