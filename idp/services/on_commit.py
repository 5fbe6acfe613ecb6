"""Side effects that may happen only once the transaction committed.

Cache writes (the revocation cache) and queued audit rows must not describe a change the
database never recorded: they wait in the session until its commit, and a rollback drops
them. Callbacks run after the commit, outside any transaction, and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event

from ..extensions import db

_PENDING = "idp.on_commit"


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` after the current transaction of the request's session commits."""
    db.session.info.setdefault(_PENDING, []).append(callback)


@event.listens_for(db.session, "after_commit")
def _run(session) -> None:
    for callback in session.info.pop(_PENDING, ()):
        callback()


@event.listens_for(db.session, "after_transaction_end")
def _drop(session, transaction) -> None:
    # After a commit the list is already gone; after a rollback it must not survive.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
