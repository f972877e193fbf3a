"""Downloads stay in their cache folder, end within a deadline, and fail in one line.

Every case runs against tests/local_server.py (127.0.0.1 only). Names from the URL path, the
``filename`` argument and the server's ``Content-Disposition`` are reduced to a safe base name
in the cache or refused; misbehaving servers (invalid HTTP, resets, short reads, slow bodies)
give one line naming the URL; nothing is left at the final path or outside the cache, and a
file already in the cache is untouched by a failed download.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from hydra_helpers import compose_run
from local_server import local_server
from rnnkit.cli.errors import run_reporting_errors
from rnnkit.cli.train import train
from rnnkit.data.io.download import DEADLINE_VARIABLE, DownloadError, download

BODY = b"sentence\tlabel\na fine film\t1\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


pytestmark = pytest.mark.usefixtures("no_leftover_log_handlers")


@pytest.fixture
def server():
    with local_server() as running:
        yield running


# ---- file names: reduced to a safe base name in the cache, or refused ---------------------

# (case id, served path, response headers, filename argument, the cached name)
REDUCED_NAMES = [
    ("url-encoded-parent", "/a/..%2F..%2Fescaped.txt", {}, None, "escaped.txt"),
    ("url-encoded-absolute", "/%2Fetc%2Fescaped.txt", {}, None, "escaped.txt"),
    ("url-backslashes", "/a/..%5C..%5Cescaped.txt", {}, None, "escaped.txt"),
    (
        "disposition-parent",
        "/download/",
        {"Content-Disposition": 'attachment; filename="../escaped.txt"'},
        None,
        "escaped.txt",
    ),
    (
        "disposition-absolute",
        "/download/",
        {"Content-Disposition": 'attachment; filename="/tmp/escaped.txt"'},
        None,
        "escaped.txt",
    ),
    (
        "disposition-backslashes",
        "/download/",
        {"Content-Disposition": 'attachment; filename="..\\\\..\\\\escaped.txt"'},
        None,
        "escaped.txt",
    ),
    (
        "disposition-rfc2231",
        "/download/",
        {"Content-Disposition": "attachment; filename*=UTF-8''..%2F..%2Fescaped.txt"},
        None,
        "escaped.txt",
    ),
    (
        "url-name-wins-over-disposition",
        "/data.tsv",
        {"Content-Disposition": "filename=x"},
        None,
        "data.tsv",
    ),
    ("filename-argument", "/download?id=7", {}, "train.tsv", "train.tsv"),
]


@pytest.mark.parametrize(
    ("case", "path", "headers", "filename", "cached"),
    REDUCED_NAMES,
    ids=[c[0] for c in REDUCED_NAMES],
)
def test_names_are_reduced_to_a_base_name_inside_the_cache(
    server, tmp_path, case, path, headers, filename, cached
):
    url = server.add(path, BODY, headers=headers)
    cache = tmp_path / "a" / "b" / "cache"
    result = download(url, sha(BODY), cache, filename=filename, timeout=5)
    assert result == cache / cached and result.read_bytes() == BODY
    assert files_under(tmp_path) == {"a", "a/b", "a/b/cache", f"a/b/cache/{cached}"}


# (case id, served path, headers, filename argument, error type, the one line's start)
REFUSED_NAMES = [
    ("url-only-parents", "/..%2F..", {}, None, ValueError, "url http://"),
    ("url-nul", "/a%00b.txt", {}, None, ValueError, "url http://"),
    ("url-hidden", "/.bashrc", {}, None, ValueError, "url http://"),
    ("url-control-character", "/a%0Ab.txt", {}, None, ValueError, "url http://"),
    ("filename-parent", "/x", {}, "../escaped.txt", ValueError, "filename: "),
    ("filename-folder", "/x", {}, "sub/escaped.txt", ValueError, "filename: "),
    ("filename-nul", "/x", {}, "a\x00b", ValueError, "filename: "),
    (
        "disposition-parent-only",
        "/download/",
        {"Content-Disposition": 'attachment; filename=".."'},
        None,
        DownloadError,
        "download of http://",
    ),
    (
        "disposition-hidden",
        "/download/",
        {"Content-Disposition": 'attachment; filename="../.profile"'},
        None,
        DownloadError,
        "download of http://",
    ),
    ("no-name-anywhere", "/download/", {}, None, DownloadError, "download of http://"),
]


@pytest.mark.parametrize(
    ("case", "path", "headers", "filename", "error", "start"),
    REFUSED_NAMES,
    ids=[c[0] for c in REFUSED_NAMES],
)
def test_unsafe_names_are_refused_in_one_line(
    server, tmp_path, case, path, headers, filename, error, start
):
    url = server.add(path, BODY, headers=headers)
    cache = tmp_path / "cache"
    with pytest.raises(error) as refused:
        download(url, sha(BODY), cache, filename=filename, timeout=5)
    message = str(refused.value)
    assert message.startswith(start) and "\n" not in message, message
    assert not isinstance(refused.value, DownloadError) or url in message
    assert files_under(tmp_path) <= {"cache"}  # nothing written, the cache at most created


def test_a_link_in_the_cache_pointing_outside_is_not_written_through(server, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.tsv").symlink_to(outside)
    url = server.add("/data.tsv", BODY)
    with pytest.raises(DownloadError, match="resolves outside the cache folder") as refused:
        download(url, sha(BODY), cache, timeout=5)
    assert url in str(refused.value) and outside.read_bytes() == b"precious"


# ---- misbehaving servers: one line naming the URL, nothing left ---------------------------

# (case id, route options, download options, what the line says)
FAILURES = [
    ("http-500", {"status": 500}, {}, "HTTP 500"),
    ("bad-status-line", {"raw": b"garbage\r\n\r\n"}, {}, "not valid HTTP"),
    ("closed-without-answer", {"raw": b""}, {}, "interrupted after 0 bytes"),
    ("reset-mid-body", {"reset_after": 10, "body": BODY * 1000}, {}, "(interrupted|truncated)"),
    ("short-read", {"content_length": len(BODY) + 100}, {}, "truncated download"),
    ("slow-body-past-deadline", {"trickle": 0.05}, {"deadline": 0.3}, "past its deadline of 0.3 s"),
    ("stalled-read", {"trickle": 3.0}, {"timeout": 0.3}, "interrupted after 0 bytes .*timed out"),
    ("checksum", {"body": b"other bytes"}, {}, "checksum mismatch"),
]


@pytest.mark.parametrize(
    ("case", "route", "options", "expected"), FAILURES, ids=[c[0] for c in FAILURES]
)
def test_server_failures_are_one_line_naming_the_url(
    server, tmp_path, case, route, options, expected
):
    route = {"body": BODY, **route}
    url = server.add("/data.tsv", route.pop("body"), **route)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "other.tsv").write_bytes(b"kept")
    with pytest.raises(DownloadError, match=expected) as failed:
        download(url, sha(BODY), cache, **{"timeout": 5, **options})
    message = str(failed.value)
    assert url in message and "\n" not in message, message
    assert files_under(cache) == {"other.tsv"} and (cache / "other.tsv").read_bytes() == b"kept"


@pytest.mark.parametrize(
    ("deadline", "environment", "expected"),
    [
        (0, None, "^deadline: expected a positive number of seconds, got 0"),
        (-1, None, "^deadline: expected a positive"),
        (None, "abc", f"^{DEADLINE_VARIABLE}: expected a positive number of seconds, got 'abc'"),
        (None, "inf", f"^{DEADLINE_VARIABLE}: expected a positive"),
    ],
)
def test_a_bad_deadline_is_named(server, tmp_path, monkeypatch, deadline, environment, expected):
    if environment is not None:
        monkeypatch.setenv(DEADLINE_VARIABLE, environment)
    url = server.add("/data.tsv", BODY)
    with pytest.raises(ValueError, match=expected):
        download(url, sha(BODY), tmp_path, deadline=deadline, timeout=5)
    assert server.requests == []


def test_the_deadline_comes_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv(DEADLINE_VARIABLE, "0.2")
    url = server.add("/data.tsv", BODY, trickle=0.05)
    with pytest.raises(DownloadError, match="past its deadline of 0.2 s"):
        download(url, sha(BODY), tmp_path, timeout=5)


# ---- through the command line: exit 1, one line ------------------------------------------


@pytest.mark.parametrize(
    ("case", "route", "expected"),
    [
        ("bad-status-line", {"raw": b"HTTP/9 what\r\n"}, "not valid HTTP"),
        ("reset", {"reset_after": 0}, "interrupted"),
        ("checksum", {"body": b"not the archive"}, "checksum mismatch"),
    ],
)
def test_rnnkit_train_reports_a_failed_download_in_one_line(
    server, tmp_path, capsys, case, route, expected
):
    route = {"body": BODY, **route}
    url = server.add("/glue/data/SST-2.zip", route.pop("body"), **route)
    data = tmp_path / "sst2"
    cfg = compose_run(
        [
            "experiment=sentiment",
            "data=sst2",
            f"data.path={data}",
            "data.download=true",
            f"data.url={url}",
            f"data.sha256={sha(BODY)}",
        ],
        tmp_path / "run",
    )
    with pytest.raises(SystemExit) as exited:
        run_reporting_errors(train, cfg)
    GlobalHydra.instance().clear()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exited.value.code == 1
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error: "), lines
    assert url in lines[0] and re.search(expected, lines[0]), lines[0]
    assert files_under(data) == set()  # nothing downloaded or extracted
