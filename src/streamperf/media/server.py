"""nginx-rtmp launcher: a private media server per run on free loopback ports.

nginx runs in the foreground (`daemon off`) as our child, so the child's PID
is the master's PID and we stop it by that PID, never by name. Every path
nginx writes (pid, logs, temp dirs, HLS) lives under the work dir; the
Debian build's compiled-in error log is `stderr`, so nothing is opened under
/var/log before the config is read (we still capture stderr to a file).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import resource
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from streamperf.media.processes import popen, terminate

MODULE_DIRS = (Path("/usr/lib/nginx/modules"), Path("/usr/share/nginx/modules"))
MODULE_NAME = "ngx_rtmp_module.so"
APP = "live"
LADDER = "ladder"  # the HTTP location (and work dir) of ladders' HLS and DASH files


class MediaServerError(RuntimeError):
    """nginx-rtmp could not be started, queried or found."""


#: what nginx's config cannot carry even quoted: `$` starts a variable in some
#: directives (root), and a line break or NUL ends or breaks the token
_UNQUOTABLE = ("$", "\n", "\r", "\0")


def nginx_quote(value: Path | str) -> str:
    """A path (or URL) as one double-quoted nginx config token: a space, `;`, `{`,
    `#` or a quote in it can neither split the directive nor add one. Raises
    MediaServerError for what cannot be quoted (see _UNQUOTABLE)."""
    text = str(value)
    bad = [c for c in _UNQUOTABLE if c in text]
    if bad:
        raise MediaServerError(f"nginx cannot take the path {text!r}: it holds {bad[0]!r}; "
                               "use a work directory without it")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class StreamStat:
    name: str
    # bw_* are nginx-rtmp's averages over 10 s windows, so they read 0 during
    # a stream's first 10 s; bytes_* count from the first byte.
    bw_in: int  # bits/s into the server (publisher)
    bw_out: int  # bits/s out of the server (all players)
    nclients: int  # publisher + players
    # per client: id, address, time (ms), dropped, publishing (bool), flashver...
    clients: list[dict[str, Any]] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def publishing(self) -> bool:
        return any(c.get("publishing") for c in self.clients)

    @property
    def players(self) -> int:
        return sum(1 for c in self.clients if not c.get("publishing"))


def find_rtmp_module() -> Path:
    """Path of ngx_rtmp_module.so (Debian libnginx-mod-rtmp)."""
    for d in MODULE_DIRS:
        if (d / MODULE_NAME).is_file():
            return (d / MODULE_NAME).resolve()
    raise MediaServerError(
        f"{MODULE_NAME} not found in {', '.join(map(str, MODULE_DIRS))}: "
        "install it with `apt-get install nginx libnginx-mod-rtmp`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now (small race until nginx binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _check_free(host: str, port: int, what: str) -> None:
    # nginx retries a busy port for ~2.5 s before failing; say it at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx does
        try:
            s.bind((host, port))
        except OSError as e:
            raise MediaServerError(
                f"cannot start nginx-rtmp: {what} port {host}:{port} is not free ({e.strerror})"
            ) from e


def _listening_ports(pid: int) -> set[int]:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


def _tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _nofile_limit(wanted: int = 65536) -> int:
    # nginx can only raise its limit up to the hard limit unless it runs as root.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 or hard == resource.RLIM_INFINITY:
        return wanted
    return max(soft, min(wanted, hard))


def _user_directive(workdir: Path) -> str:
    # As root, nginx drops workers to `nobody`, who could not write HLS into a
    # private temp dir; run the workers as the work dir's owner instead.
    if os.geteuid() != 0:
        return ""
    st = workdir.stat()
    user = pwd.getpwuid(st.st_uid).pw_name
    group = grp.getgrgid(st.st_gid).gr_name
    return f"user {user} {group};\n"


class MediaServer:
    """One nginx-rtmp instance: RTMP app `live` (+ HLS) and an HTTP port for /stat and /hls."""

    def __init__(
        self,
        workdir: Path,
        host: str = "127.0.0.1",
        rtmp_port: int | None = None,
        http_port: int | None = None,
        hls: bool = True,
        wowza_edge: bool = False,
        on_publish: str | None = None,
        ladder: bool = False,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        #: also serve /ladder: the HLS and DASH files a ladder publisher writes there
        #: (media/ladder_publisher.py), a directory per stream
        self.ladder = ladder
        #: URL nginx asks (GET, with the stream name and the ingest URL's query) before
        #: it lets a publisher publish; None: anyone may publish (a private test server)
        self.on_publish = on_publish
        #: also play the seed's Wowza conventions (render_config): the edge redirect
        #: on the HTTP port, and `<name>_source` playing stream `<name>`
        self.wowza_edge = wowza_edge
        self.host = host
        self.rtmp_port = rtmp_port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.hls = hls
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._children: list[int] = []

    # --- paths and URLs -------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "logs" / "error.log"

    @property
    def stderr_log(self) -> Path:
        return self.workdir / "logs" / "nginx.stderr"

    @property
    def hls_dir(self) -> Path:
        return self.workdir / "hls"

    @property
    def stat_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/stat"

    def ingest_url(self, name: str) -> str:
        return f"rtmp://{self.host}:{self.rtmp_port}/{APP}/{name}"

    def rtmp_url(self, name: str) -> str:
        return f"rtmp://{self.host}:{self.rtmp_port}/{APP}/{name}"

    def hls_url(self, name: str) -> str:
        return f"http://{self.host}:{self.http_port}/hls/{name}.m3u8"

    def ladder_dir(self, name: str) -> Path:
        """Where a ladder publisher of stream `name` writes its files."""
        return self.workdir / LADDER / name

    def ladder_url(self, name: str, file: str) -> str:
        """A file of stream `name`'s ladder (its master playlist, its MPD) over HTTP."""
        return f"http://{self.host}:{self.http_port}/{LADDER}/{name}/{file}"

    def edge_base(self) -> str:
        """The SMIL `meta base` of the Wowza-style redirect: this server's `live` app."""
        return f"rtmp://{self.host}:{self.rtmp_port}/{APP}/_definst_"

    # --- config -----------------------------------------------------------
    def render_config(self) -> str:
        q = nginx_quote
        w = self.workdir
        hls = (
            f"            hls on;\n"
            f"            hls_path {q(w / 'hls')};\n"
            f"            hls_fragment 2s;\n"
            f"            hls_playlist_length 10s;\n"
            f"            hls_fragment_naming system;\n"
            if self.hls
            else ""
        )
        # The seed's Wowza edge, in nginx alone: GET /redirect/live/USER answers the
        # SMIL whose base the client turns into .../live/USER_source, and on_play
        # (asked of nginx's own HTTP port, GET so the name is in the query) redirects
        # a play of USER_source to the published USER, as Wowza's transcoder names it.
        notify = "".join((
            "            notify_method get;\n" if self.wowza_edge or self.on_publish else "",
            f"            on_play http://{self.host}:{self.http_port}/on_play;\n"
            if self.wowza_edge else "",
            f"            on_publish {q(self.on_publish)};\n" if self.on_publish else "",
        ))
        smil = f'<smil><head><meta base="{self.edge_base()}"/></head><body/></smil>'
        wowza = (
            f"        location /on_play {{\n"
            f"            absolute_redirect off;\n"
            f"            if ($arg_name ~ ^(.+)_source$) {{\n"
            f"                return 302 $1;\n"
            f"            }}\n"
            f"            return 200;\n"
            f"        }}\n"
            f"        location ~ ^/redirect/{APP}/[^/]+$ {{\n"
            f"            default_type application/smil+xml;\n"
            f"            return 200 '{smil}';\n"
            f"        }}\n"
            if self.wowza_edge
            else ""
        )
        # Manifests change every segment: never cached (a nested location's add_header
        # replaces the outer one's, hence twice). CORS: browser players (hls.js, dash.js)
        # on a page from another origin fetch these.
        ladder = (
            f"        location /{LADDER} {{\n"
            f"            types {{\n"
            f"                application/vnd.apple.mpegurl m3u8;\n"
            f"                video/mp2t ts;\n"
            f"                application/dash+xml mpd;\n"
            f"                video/mp4 m4s;\n"
            f"            }}\n"
            f"            root {q(w)};\n"
            f"            add_header Access-Control-Allow-Origin *;\n"
            f"            location ~ \\.(m3u8|mpd)$ {{\n"
            f"                add_header Cache-Control no-cache;\n"
            f"                add_header Access-Control-Allow-Origin *;\n"
            f"            }}\n"
            f"        }}\n"
            if self.ladder
            else ""
        )
        temp = "\n".join(
            f"    {kind}_temp_path {q(w / 'tmp' / kind)};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""# generated by streamperf.media.server; do not edit
{_user_directive(w)}load_module {q(find_rtmp_module())};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {_nofile_limit()};
pid {q(w / 'nginx.pid')};
lock_file {q(w / 'nginx.lock')};
error_log {q(self.error_log)} warn;

events {{
    worker_connections 20000;
}}

rtmp {{
    server {{
        listen {self.host}:{self.rtmp_port};
        chunk_size 4096;
        application {APP} {{
            live on;
            record off;
{notify}{hls}        }}
    }}
}}

http {{
    access_log off;
{temp}
    server {{
        listen {self.host}:{self.http_port};
        location /stat {{
            # who watches which stream from where: this machine only
            allow 127.0.0.0/8;
            allow ::1;
            allow {self.host};
            deny all;
            rtmp_stat all;
        }}
        location /hls {{
            types {{
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }}
            root {q(w)};
            add_header Cache-Control no-cache;
        }}
{ladder}{wowza}        location / {{
            return 404;
        }}
    }}
}}
"""

    # --- lifecycle ----------------------------------------------------------
    def start(self, timeout: float = 10) -> MediaServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise MediaServerError(
                "nginx not found: install it with `apt-get install nginx libnginx-mod-rtmp`"
            )
        _check_free(self.host, self.rtmp_port, "RTMP")
        _check_free(self.host, self.http_port, "HTTP")
        for sub in ("logs", "hls", "tmp", *((LADDER,) if self.ladder else ())):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.render_config())
        with open(self.stderr_log, "ab") as err:
            self._proc = popen(  # ends with this process, however that ends
                [nginx, "-c", str(self.conf_path), "-p", str(self.workdir) + "/"],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not nginx
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self._proc.poll()
            if rc is not None:
                self.pid = None
                self._proc = None
                raise MediaServerError(
                    f"nginx-rtmp (rtmp {self.host}:{self.rtmp_port}, http {self.http_port}) "
                    f"exited with {rc} on start: {self._log_tail()}"
                )
            # Accepting is not enough: someone else could own the port; the
            # listening sockets must be nginx's own.
            ports = {self.rtmp_port, self.http_port}
            if ports <= _listening_ports(self.pid) and all(_port_open(self.host, p) for p in ports):
                self._remember_children()
                return self
            time.sleep(0.05)
        self.stop()
        raise MediaServerError(
            f"nginx-rtmp did not open rtmp://{self.host}:{self.rtmp_port} and "
            f"http://{self.host}:{self.http_port} within {timeout:g}s: {self._log_tail()}"
        )

    def _remember_children(self) -> None:
        # Workers outlive a SIGKILLed master; keep their PIDs so stop() can end them.
        if self.pid is None:
            return
        with contextlib.suppress(psutil.Error):
            self._children = [c.pid for c in psutil.Process(self.pid).children()]

    def _log_tail(self, n: int = 10) -> str:
        text = "\n".join(t for t in (_tail(self.stderr_log, n), _tail(self.error_log, n)) if t)
        # One line: callers put this into an exception message.
        return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no log)"

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM (nginx's fast shutdown) to the master, then SIGKILL; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._remember_children()
        children = list(self._children)
        # Not SIGQUIT: once a stream was published, nginx-rtmp's workers never finish a
        # graceful quit, so it only ever cost its whole grace period.
        terminate(proc, grace)
        for cpid in children:
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(cpid)
                if child.ppid() in (proc.pid, 1) and "nginx" in child.name():
                    child.kill()
                    child.wait(2)
        self.pid = None
        self._children = []

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- stat -----------------------------------------------------------------
    def stat_xml(self, timeout: float = 5.0) -> str:
        try:
            with urllib.request.urlopen(self.stat_url, timeout=timeout) as resp:
                return str(resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            raise MediaServerError(f"GET {self.stat_url} -> {e.code}") from e
        except (OSError, urllib.error.URLError) as e:
            reason = getattr(e, "reason", e)
            raise MediaServerError(f"GET {self.stat_url}: {reason}") from e

    def stat(self, timeout: float = 5.0) -> dict[str, StreamStat]:
        """Streams of the `live` application keyed by name, from the rtmp_stat XML."""
        return parse_stat(self.stat_xml(timeout), app=APP)

    def is_publishing(self, name: str) -> bool:
        """True once a publisher on `name` has sent media (a Publisher `ready` check)."""
        st = self.stat().get(name)
        return st is not None and st.publishing and st.bytes_in > 0


def _int(el: ET.Element | None, tag: str, default: int = 0) -> int:
    if el is None:
        return default
    text = el.findtext(tag)
    try:
        return int(text) if text not in (None, "") else default
    except ValueError:
        return default


def parse_stat(xml_text: str, app: str = APP) -> dict[str, StreamStat]:
    """Parse nginx-rtmp's /stat XML; streams of application `app` only."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        raise MediaServerError(f"unparseable rtmp_stat XML: {e}") from e
    out: dict[str, StreamStat] = {}
    for application in root.iter("application"):
        if application.findtext("name") != app:
            continue
        for stream in application.iter("stream"):
            name = stream.findtext("name") or ""
            clients: list[dict[str, Any]] = []
            for c in stream.findall("client"):
                clients.append(
                    {
                        "id": _int(c, "id"),
                        "address": c.findtext("address") or "",
                        "time": _int(c, "time"),
                        "flashver": c.findtext("flashver") or "",
                        "dropped": _int(c, "dropped"),
                        "avsync": _int(c, "avsync"),
                        "timestamp": _int(c, "timestamp"),
                        "active": c.find("active") is not None,
                        "publishing": c.find("publishing") is not None,
                    }
                )
            out[name] = StreamStat(
                name=name,
                bw_in=_int(stream, "bw_in"),
                bw_out=_int(stream, "bw_out"),
                nclients=_int(stream, "nclients"),
                clients=clients,
                bytes_in=_int(stream, "bytes_in"),
                bytes_out=_int(stream, "bytes_out"),
            )
    return out
