"""Judge replies on disk, stored as each arrives, so a rerun or a killed run asks only the rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from lm_eval.api.instance import Instance


class ReplyCache:
    """Judge replies on disk (SQLite: safe for several processes, survives a killed run)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=120)
            with self._db:
                self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
                self._db.execute("SELECT key, reply FROM replies LIMIT 1").fetchall()
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{path}: not a judge reply cache ({err}); move it aside, or set judge_cache "
                             "(qbench judge --cache) to another file") from None

    def get(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            part = list(keys[start:start + 500])
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(f"SELECT key, reply FROM replies WHERE key IN ({marks})", part))
        return found

    def put_new(self, replies: dict[str, str]) -> dict[str, str]:
        """Store each reply whose key holds none yet (a stored reply is never replaced); returns
        what the cache holds for these keys."""
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO replies VALUES (?, ?)", replies.items())
        return self.get(list(replies)) if replies else {}

    def close(self) -> None:
        self._db.close()


class StoreEachReply:
    """Stands in for the judge's cache hook: lm-eval models report every reply through it as it
    comes, so each is handed to ``store`` at once and a killed run loses only the replies in flight."""

    def __init__(self, store: Callable[[dict[str, str]], object], requests: Sequence[Instance],
                 keys: Sequence[str]):
        self.store = store
        self.keys: dict[str, list[str]] = {}  # request -> its cache keys (equal requests: rounds)
        for request, key in zip(requests, keys):
            self.keys.setdefault(request_id(request.args), []).append(key)

    def add_partial(self, attr: str, req, res) -> None:
        waiting = self.keys.get(request_id(req)) if attr == "generate_until" and isinstance(res, str) else None
        if waiting:
            self.store({waiting.pop(0): res})


def request_id(args) -> str:
    context, gen_kwargs = args[0], args[1]
    return json.dumps([context, gen_kwargs], sort_keys=True, default=str)

