"""The on-disk cache of compiled Hyperscan databases: hit, miss, corrupt entries, off."""

from __future__ import annotations

from pathlib import Path

import hyperscan
import pytest

from retrohunt import hyperscan_cache
from retrohunt.hyperscan_cache import (
    CACHE_ENV,
    PatternDatabase,
    cache_dir,
    cache_key,
    compile_database,
    literal_bytes,
)

EXPRESSIONS = [b"xmrig", b"stratum\\+tcp"]
IDS = [0, 1]
FLAGS = [hyperscan.HS_FLAG_CASELESS, 0]


def matches(database: PatternDatabase, data: bytes) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    database.scan(data, match_event_handler=lambda i, _s, end, _f, _c: found.append((i, end)))
    return found


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_compile_is_read_from_the_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = compile_database(EXPRESSIONS, IDS, FLAGS)
    (entry,) = cache.glob("*.hsdb")
    assert entry.stem == cache_key(EXPRESSIONS, IDS, FLAGS)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("compiled again although the cache holds the database")

    monkeypatch.setattr(hyperscan, "Database", refuse)
    second = compile_database(EXPRESSIONS, IDS, FLAGS)
    data = b"run XMRig -o stratum+tcp://pool"
    assert matches(second, data) == matches(first, data) == [(0, 9), (1, 24)]


def test_any_change_to_a_pattern_changes_the_key() -> None:
    key = cache_key(EXPRESSIONS, IDS, FLAGS)
    assert cache_key([b"xmrig", b"stratum\\+ssl"], IDS, FLAGS) != key
    assert cache_key(EXPRESSIONS, [0, 2], FLAGS) != key
    assert cache_key(EXPRESSIONS, IDS, [0, 0]) != key
    # Length-prefixed: moving bytes between expressions is a different set.
    assert cache_key([b"xmri", b"gstratum\\+tcp"], IDS, FLAGS) != key


def test_a_corrupt_entry_is_compiled_again(cache: Path) -> None:
    compile_database(EXPRESSIONS, IDS, FLAGS)
    (entry,) = cache.glob("*.hsdb")
    entry.write_bytes(b"not a database")
    database = compile_database(EXPRESSIONS, IDS, FLAGS)
    assert matches(database, b"xmrig") == [(0, 5)]
    assert entry.read_bytes() != b"not a database"  # rewritten


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None
    compile_database(EXPRESSIONS, IDS, FLAGS)
    assert not any(tmp_path.rglob("*.hsdb"))


def test_default_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "retrohunt"


def test_an_unwritable_cache_still_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    assert matches(compile_database(EXPRESSIONS, IDS, FLAGS), b"xmrig") == [(0, 5)]


def test_a_refused_pattern_is_not_cached(cache: Path) -> None:
    with pytest.raises(hyperscan.error):
        hyperscan_cache.compile_database([b"(unclosed"], [0], [0])
    assert not cache.exists() or not any(cache.glob("*.hsdb"))


# --- literals compiled apart ------------------------------------------------------------------

CASELESS = hyperscan.HS_FLAG_CASELESS
MIXED = [
    (b"pool\\x2eminexmr\\x2ecom", CASELESS),  # literals, as retrohunt writes them
    (b"\\x2fxmrig", CASELESS),
    (b"XMRig", 0),  # a cased literal
    (b"stratum\\+tcp", CASELESS),  # an expression
    (b"a\\\\?/b", CASELESS),  # an optional escape: an expression too
    (b"\\x2fxmrig", hyperscan.HS_FLAG_DOTALL),  # a flag the literal API does not take
]
TEXT = (
    b'{"d":"POOL.MINEXMR.COM","i":"/XMRIG","c":"XMRig stratum+TCP://a\\/b","n":"a/b","j":"/xmrig"}'
)


def test_many_literals_are_compiled_apart_and_match_as_one_database(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expressions = [e for e, _ in MIXED]
    flags = [f for _, f in MIXED]
    ids = list(range(10, 10 + len(MIXED)))
    together = compile_database(expressions, ids, flags)
    monkeypatch.setattr(hyperscan_cache, "LITERAL_SPLIT", 3)

    apart = compile_database(expressions, ids, flags)

    assert len(together.parts) == 1 and len(apart.parts) == 2
    found = sorted(matches(apart, TEXT))
    assert found == sorted(matches(together, TEXT))
    assert {pattern for pattern, _ in found} == set(ids)
    # Each part is cached under its own key: a second compile reads both.
    monkeypatch.setattr(hyperscan, "Database", None)
    assert sorted(matches(compile_database(expressions, ids, flags), TEXT)) == found


def test_only_literals_as_retrohunt_writes_them_are_literal_bytes() -> None:
    assert literal_bytes(b"pool\\x2eminexmr\\x2ecom") == b"pool.minexmr.com"
    assert literal_bytes(b"\\x2fxmrig\\xfe") == b"/xmrig\xfe"
    assert literal_bytes(b"C\\x3a/tmp") == b"C:/tmp"
    for expression in (b"a\\\\?/b", b"stratum\\+tcp", b"a.b", b"\\\\x41", b"", b"[0-9]"):
        assert literal_bytes(expression) is None
