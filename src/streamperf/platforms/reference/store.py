"""SQLite storage of the reference platform: accounts, follows, codes, watchers.

Every method is one or two tiny statements; the aiohttp app calls them on
its event loop thread (a lock guards the connection anyway, so a test may
call them from elsewhere).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

# PBKDF2 with a per-user salt, but only 1000 rounds: the accounts are
# synthetic and the point of this platform is to take thousands of
# sign-ups per second on a 2-core load box; a real service would use
# ~600k rounds (OWASP) or scrypt.
PBKDF2_ROUNDS = 1000
PER_PAGE = 20
#: SQLite's INTEGER is 64-bit signed: ids outside this range name nothing here
MAX_ID = 2**63 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS influencers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    oauth_salt BLOB NOT NULL,
    oauth_hash BLOB NOT NULL,
    stream_key TEXT NOT NULL UNIQUE,
    alerts_at REAL,
    streaming_at REAL
);
CREATE TABLE IF NOT EXISTS fans (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    salt BLOB NOT NULL,
    pwhash BLOB NOT NULL,
    token TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS follows (
    fan_id INTEGER NOT NULL,
    influencer_id INTEGER NOT NULL,
    PRIMARY KEY (fan_id, influencer_id)
);
CREATE TABLE IF NOT EXISTS codes_used (
    fan_id INTEGER NOT NULL,
    code_text TEXT NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watchers (
    influencer_id INTEGER NOT NULL,
    fan_id INTEGER NOT NULL,
    PRIMARY KEY (influencer_id, fan_id)
);
"""


class DuplicateError(ValueError):
    """A unique field (email, username) is already taken."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} has already been taken")
        self.field = field


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)


def _oauth_matches(row: dict[str, Any], oauth_token: str) -> bool:
    return hmac.compare_digest(hash_password(oauth_token, row["oauth_salt"]), row["oauth_hash"])


def username_from_email(email: str) -> str:
    """The email's local part, lower-cased and reduced to [a-z0-9_]."""
    local = email.split("@", 1)[0].lower()
    return re.sub(r"[^a-z0-9_]", "_", local).strip("_") or "influencer"


class Store:
    def __init__(self, path: Path | str = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        # Losing the last writes of a throwaway test platform on a power cut is fine.
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        with self._lock:
            row = self.db.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, args)

    # --- influencers ---------------------------------------------------------
    def influencer_sign_in(self, email: str, oauth_token: str) -> dict[str, Any] | None:
        """The influencer with this email, created on first sign-in with `oauth_token`;
        None when it exists and `oauth_token` is not the one it signed up with."""
        found = self._one("SELECT * FROM influencers WHERE email = ?", (email,))
        if found:
            return found if _oauth_matches(found, oauth_token) else None
        base = username_from_email(email)
        salt = secrets.token_bytes(16)
        for n in range(1, 1000):
            name = base if n == 1 else f"{base}_{n}"
            try:
                self._exec(
                    "INSERT INTO influencers (email, username, token, oauth_salt, oauth_hash,"
                    " stream_key) VALUES (?, ?, ?, ?, ?, ?)",
                    (email, name, secrets.token_urlsafe(24), salt,
                     hash_password(oauth_token, salt), secrets.token_urlsafe(24)),
                )
            except sqlite3.IntegrityError:
                again = self._one("SELECT * FROM influencers WHERE email = ?", (email,))
                if again:  # a concurrent sign-in of the same email won
                    return again if _oauth_matches(again, oauth_token) else None
                continue  # username taken by another email: try the next suffix
            row = self._one("SELECT * FROM influencers WHERE email = ?", (email,))
            assert row is not None
            return row
        raise DuplicateError("username")

    def influencer(self, influencer_id: int) -> dict[str, Any] | None:
        if not 0 <= influencer_id <= MAX_ID:
            return None
        return self._one("SELECT * FROM influencers WHERE id = ?", (influencer_id,))

    def influencer_by_username(self, username: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM influencers WHERE username = ?", (username,))

    def set_alerts(self, influencer_id: int, when: float | None = None) -> None:
        self._exec(
            "UPDATE influencers SET alerts_at = ? WHERE id = ?",
            (time.time() if when is None else when, influencer_id),
        )

    def set_streaming(self, influencer_id: int, on: bool) -> None:
        self._exec(
            "UPDATE influencers SET streaming_at = ? WHERE id = ?",
            (time.time() if on else None, influencer_id),
        )

    def influencers_page(self, page: int, per_page: int = PER_PAGE) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, username FROM influencers ORDER BY id LIMIT ? OFFSET ?",
                (per_page, (page - 1) * per_page),
            ).fetchall()
        return [dict(r) for r in rows]

    # --- fans ------------------------------------------------------------------
    def fan_create(self, email: str, username: str, password: str) -> dict[str, Any]:
        salt = secrets.token_bytes(16)
        try:
            self._exec(
                "INSERT INTO fans (email, username, salt, pwhash, token) VALUES (?, ?, ?, ?, ?)",
                (email, username, salt, hash_password(password, salt), secrets.token_urlsafe(24)),
            )
        except sqlite3.IntegrityError as e:
            raise DuplicateError("username" if "username" in str(e) else "email") from e
        row = self._one("SELECT * FROM fans WHERE email = ?", (email,))
        assert row is not None
        return row

    def fan_authenticate(self, email: str, password: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM fans WHERE email = ?", (email,))
        if row is None:
            return None
        if not hmac.compare_digest(hash_password(password, row["salt"]), row["pwhash"]):
            return None
        return row

    def fan(self, fan_id: int) -> dict[str, Any] | None:
        if not 0 <= fan_id <= MAX_ID:
            return None
        return self._one("SELECT * FROM fans WHERE id = ?", (fan_id,))

    def fan_by_token(self, token: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM fans WHERE token = ?", (token,))

    # --- relations ----------------------------------------------------------------
    def follow(self, fan_id: int, influencer_id: int) -> None:
        self._exec("INSERT OR IGNORE INTO follows VALUES (?, ?)", (fan_id, influencer_id))

    def unfollow(self, fan_id: int, influencer_id: int) -> None:
        self._exec(
            "DELETE FROM follows WHERE fan_id = ? AND influencer_id = ?", (fan_id, influencer_id)
        )

    def following(self, fan_id: int, influencer_ids: list[int]) -> set[int]:
        if not influencer_ids:
            return set()
        marks = ",".join("?" * len(influencer_ids))
        with self._lock:
            rows = self.db.execute(
                "SELECT influencer_id FROM follows"
                f" WHERE fan_id = ? AND influencer_id IN ({marks})",
                (fan_id, *influencer_ids),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def followers(self, influencer_id: int) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM follows WHERE influencer_id = ?", (influencer_id,)
        )
        return int(row["n"]) if row else 0

    def use_code(self, fan_id: int, code_text: str) -> None:
        self._exec("INSERT INTO codes_used VALUES (?, ?, ?)", (fan_id, code_text, time.time()))

    def add_watcher(self, influencer_id: int, fan_id: int) -> None:
        self._exec("INSERT OR IGNORE INTO watchers VALUES (?, ?)", (influencer_id, fan_id))

    def remove_watcher(self, influencer_id: int, fan_id: int) -> None:
        self._exec(
            "DELETE FROM watchers WHERE influencer_id = ? AND fan_id = ?", (influencer_id, fan_id)
        )

    def watchers(self, influencer_id: int) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM watchers WHERE influencer_id = ?", (influencer_id,)
        )
        return int(row["n"]) if row else 0
