"""Nothing written outside its place: host log extraction from a hostile tar stream,
paths quoted for nginx and for the load hosts' shell, the bundled platform's exposure
rule (no services needed)."""

from __future__ import annotations

import io
import shlex
import tarfile
from pathlib import Path

import pytest
from execnet import XSpec
from execnet.gateway_io import ssh_args

from streamperf.hosts.logs import MAX_LOG_MEMBERS, extract_logs
from streamperf.hosts.prepare import HostPrepareError
from streamperf.hosts.remote import gateway_spec
from streamperf.media.publisher import input_arg
from streamperf.media.server import MediaServer, MediaServerError, nginx_quote
from streamperf.platforms.reference.server import exposure_warning


def _tar(*members: tuple[str, bytes | str, str]) -> io.BytesIO:
    """A tar stream as a hostile host could send it: (name, data or link target, kind)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:  # symlink or hard link
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = str(data)
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_log_names_from_a_host_cannot_leave_the_run_directory(tmp_path: Path) -> None:
    dest = tmp_path / "run" / "hosts" / "h1"
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest.parent).mkdir(parents=True)
    dest.mkdir()
    (dest / "planted").symlink_to(outside)  # a link already in the run dir leads out
    stream = _tar(
        ("shard-0.log", b"ok\n", "file"),
        ("logs", b"", "dir"),
        ("logs/shard-1.log", b"ok too\n", "file"),
        ("../../escaped", b"x", "file"),
        ("logs/../../../escaped2", b"x", "file"),
        ("/tmp/absolute-" + tmp_path.name, b"x", "file"),
        (str(outside / "abs-in-outside"), b"x", "file"),
        ("planted/through-link", b"x", "file"),
        ("link-out", "/etc/passwd", "symlink"),
        ("hard-out", "/etc/passwd", "hardlink"),
        ("link-out/then-write", b"x", "file"),
    )
    got = extract_logs(stream, dest)
    # the link was not made, so the file named under it is a plain file inside
    assert sorted(p.relative_to(dest).as_posix() for p in got) == [
        "link-out/then-write", "logs/shard-1.log", "shard-0.log"]
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "run" / "escaped").exists()
    assert not (tmp_path / "escaped2").exists()
    assert not Path("/tmp/absolute-" + tmp_path.name).exists()
    assert not (dest / "link-out").is_symlink() and not (dest / "hard-out").exists()
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in got)


def test_host_logs_are_capped(tmp_path: Path) -> None:
    stream = _tar(("a.log", b"a" * 600, "file"), ("b.log", b"b" * 600, "file"))
    with pytest.raises(HostPrepareError, match="exceed"):
        extract_logs(stream, tmp_path / "h", max_bytes=1000, where="h1: logs")
    assert (tmp_path / "h" / "a.log").read_bytes() == b"a" * 600  # the first ones are kept
    assert not (tmp_path / "h" / "b.log").exists()


class _Endless(io.RawIOBase):
    """A stream of `head` and then zeros without end, counting what was read."""

    def __init__(self, head: bytes) -> None:
        self.head, self.read_bytes = head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = len(b)
        chunk = (self.head[self.read_bytes:self.read_bytes + n]
                 if self.read_bytes < len(self.head) else b"")
        chunk += bytes(n - len(chunk))
        b[:n] = chunk
        self.read_bytes += n
        return n


def test_a_pax_header_of_a_gigabyte_is_not_read_whole(tmp_path: Path) -> None:
    """Issue 24: tarfile reads GNU long names and PAX headers whole at their declared
    size, before any file is counted against the cap."""
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 1 << 30  # 1 GiB of "extended header"
    stream = _Endless(pax.tobuf(format=tarfile.USTAR_FORMAT))
    with pytest.raises(HostPrepareError, match="exceeds"):
        extract_logs(stream, tmp_path / "h", max_bytes=1000, where="h1: logs")
    # stopped at the cap and its margin for headers (1 kB an entry), not at 1 GiB
    assert stream.read_bytes < 16 << 20


def test_a_host_sending_more_entries_than_the_limit_is_stopped(tmp_path: Path) -> None:
    members = [(f"f{i}", b"", "file") for i in range(MAX_LOG_MEMBERS + 5)]
    with pytest.raises(HostPrepareError, match=f"over {MAX_LOG_MEMBERS} entries"):
        extract_logs(_tar(*members), tmp_path / "h", where="h1: logs")
    assert len(list((tmp_path / "h").iterdir())) == MAX_LOG_MEMBERS


@pytest.mark.parametrize("remote_dir", ["/home/u/$(touch /tmp/owned)/.streamperf",
                                        "/home/u/a b;rm -rf x/.streamperf",
                                        "/home/u/`id`/it's"])
def test_the_load_hosts_shell_gets_the_venv_python_as_one_word(remote_dir: str) -> None:
    """execnet puts the python path into the remote shell's command line as is: the
    spec quotes it, so what the shell runs is that path, not what is inside it."""
    python = f"{remote_dir}/venv/bin/python"
    spec = XSpec(gateway_spec("streamperf-h1", python, Path("/tmp/ssh_config")))
    remote_command = ssh_args(spec)[-1]  # what ssh hands the remote shell
    assert shlex.split(remote_command)[0] == python


@pytest.mark.parametrize("path", ["/tmp/a b/c", "/tmp/x;error_log /tmp/owned", "/t/{x}#y",
                                  '/t/quote"s', "/t/back\\slash"])
def test_nginx_quote_keeps_a_path_one_token(path: str) -> None:
    quoted = nginx_quote(path)
    assert quoted.startswith('"') and quoted.endswith('"')
    # nginx's lexer: inside "...", \" and \\ are escapes; nothing else is special
    inner = quoted[1:-1]
    assert inner.replace('\\\\', "").replace('\\"', "").count('"') == 0
    assert inner.replace('\\\\', "\\").replace('\\"', '"') == path


@pytest.mark.parametrize("path", ["/tmp/$(id)", "/tmp/a\nb"])
def test_nginx_refuses_what_it_cannot_quote(path: str) -> None:
    with pytest.raises(MediaServerError, match="nginx cannot take"):
        nginx_quote(path)


def test_nginx_stat_answers_this_machine_only(tmp_path: Path) -> None:
    conf = MediaServer(tmp_path, host="10.0.0.7", rtmp_port=1935, http_port=8080).render_config()
    stat = conf[conf.index("location /stat"):]
    stat = stat[:stat.index("}")]
    assert "allow 127.0.0.0/8;" in stat and "allow 10.0.0.7;" in stat
    assert stat.index("deny all;") < stat.index("rtmp_stat")
    with_auth = MediaServer(tmp_path, on_publish="http://127.0.0.1:9/media/on_publish")
    assert 'on_publish "http://127.0.0.1:9/media/on_publish";' in with_auth.render_config()
    assert "on_publish" not in MediaServer(tmp_path).render_config()


def test_media_inputs_can_never_be_options(tmp_path: Path) -> None:
    assert input_arg(Path("-x.flv")) == f"file:{Path.cwd() / '-x.flv'}"
    assert input_arg(tmp_path / "http:x.flv").startswith("file:/")


@pytest.mark.parametrize(("host", "warned"), [
    ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False),
    ("10.0.0.1", True), ("192.168.1.20", True), ("0.0.0.0", True), ("2001:db8::1", True),
])
def test_the_bundled_platform_warns_when_bound_beyond_loopback(host: str, warned: bool) -> None:
    warning = exposure_warning(host)
    assert (warning is not None) == warned
    if warning:
        assert host in warning and "beyond loopback" in warning
