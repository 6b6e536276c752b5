"""The bundled reference platform: the seed's API (platforms/reference/api.py) served from a
background thread, with its own nginx-rtmp; also `streamperf platform serve`.

Two modes. Extended (default): answers carry explicit URLs (ingest, edge
redirect, RTMP and HLS playback) on free ports. Seed (`seed=True`,
`streamperf platform serve --seed`, `--bundled-platform seed`): answers
exactly as the seed's backend did, an origin address only, and the origin
serves RTMP ingest and the Wowza-style edge redirect on one port
(`origin_port`, the seed's 2000) through media/shared_port.py; the redirect
names nginx-rtmp's own port as the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from aiohttp import web

from streamperf.hosts.specs import is_loopback
from streamperf.media.server import MediaServer
from streamperf.media.shared_port import SharedPort
from streamperf.option_values import bind_address, parse_duration, tcp_port
from streamperf.platforms.reference.api import ON_PUBLISH_PATH, make_app
from streamperf.platforms.reference.llhls.origin import Origin, llhls_mode, playlist_path
from streamperf.platforms.reference.store import Store
from streamperf.platforms.seed.conventions import SEED_ORIGIN_PORT


class PlatformExposedWarning(UserWarning):
    """The bundled platform listens on an address other machines may reach."""


class PlatformExposedError(ValueError):
    """The bundled platform would listen beyond loopback, and that was not allowed."""


def exposure_refusal(host: str) -> str:
    return (f"the bundled platform would listen on {host}, beyond loopback, where anyone "
            "who reaches it can sign fans up and watch (in seed mode, whose ingest has no "
            "key, publish from this machine's address): pass --allow-exposed to do it on "
            "a private network")


def exposure_warning(host: str) -> str | None:
    """The warning for a platform bound to `host`, or None on loopback.

    The rule: an address outside 127.0.0.0/8 and ::1 is "beyond loopback" (other
    machines may reach it), whichever interface it is."""
    if is_loopback(host):
        return None
    return (f"the bundled platform listens on {host}, beyond loopback: anyone who reaches "
            "it can sign fans up and watch its streams (publishing still needs the "
            "influencer's stream key, and nginx's /stat answers this machine only). "
            "It is a test platform with test accounts: keep it on a private network.")


class ReferencePlatform:
    """nginx-rtmp + the API app on a background event loop thread."""

    def __init__(
        self,
        workdir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        media_port: int | None = None,
        streams_token: str | None = None,
        ready_delay_s: float = 0.0,
        seed: bool = False,
        origin_port: int = SEED_ORIGIN_PORT,
        ladder: bool = False,
        llhls: bool | str = "",
        allow_exposed: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        #: listening beyond loopback is refused unless allowed (then warned about)
        self.allow_exposed = allow_exposed
        if not is_loopback(host) and not allow_exposed:
            raise PlatformExposedError(exposure_refusal(host))
        #: the LL-HLS origin (llhls/): "" off, "on", or "storm" (blocking reloads
        #: answered at once, as a broken origin would)
        self.llhls = llhls_mode(llhls)
        if seed and self.llhls:
            raise ValueError("the seed's answers name no LL-HLS playlist")
        self.llhls_origin: Origin | None = None
        self.seed = seed
        #: streams are ladders: nginx serves /ladder, the join names master and MPD
        self.ladder = ladder
        self.origin_port = origin_port  # used in seed mode only
        self.origin: SharedPort | None = None
        self.host = host
        self.port = port
        self.streams_token = streams_token or secrets.token_urlsafe(24)
        self.ready_delay_s = ready_delay_s
        self.media = MediaServer(self.workdir / "media", host=host, rtmp_port=media_port,
                                 hls=not seed, wowza_edge=seed, ladder=ladder)
        self.store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def __repr__(self) -> str:  # no token
        mode = f", seed origin={self.origin_port}" if self.seed else ""
        return f"ReferencePlatform({self.base_url!r}, media={self.media.rtmp_port}{mode})"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15) -> ReferencePlatform:
        warning = exposure_warning(self.host)
        if warning:
            warnings.warn(warning, PlatformExposedWarning, stacklevel=2)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # nginx asks the API whether a publisher holds a stream key (on_publish), so the
        # API's port is known before nginx starts: its socket is bound now and handed to
        # the site, so nothing started meanwhile (nginx's own free ports, another test's
        # server) can take it.
        try:
            self._sock = _listening_socket(self.host, self.port)
        except OSError as e:
            raise RuntimeError(
                f"reference platform could not listen on {self.host}:{self.port}: {e}") from e
        self.port = int(self._sock.getsockname()[1])
        self.media.on_publish = f"{self.base_url}{ON_PUBLISH_PATH}"
        self.media.start()
        try:
            self.store = Store(self.workdir / "platform.sqlite3")
            if self.llhls:
                self.llhls_origin = Origin(self.media, self.workdir / "llhls",
                                           storm=self.llhls == "storm")
            app = make_app(self.store, self.media, self.streams_token, self.ready_delay_s,
                           seed=self.seed, ladder=self.ladder, llhls=self.llhls_origin)
            started = threading.Event()
            failure: list[BaseException] = []
            self._thread = threading.Thread(
                target=self._serve, args=(app, started, failure), name="ref-platform", daemon=True
            )
            self._thread.start()
            if not started.wait(timeout):
                raise RuntimeError(f"reference platform did not start within {timeout:g}s")
            if failure:
                raise RuntimeError(
                    f"reference platform could not listen on {failure[0]}"
                ) from failure[0]
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=timeout) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"GET {self.base_url}/health -> {resp.status}")
        except BaseException:
            self.stop()
            raise
        return self

    def _serve(
        self, app: web.Application, started: threading.Event, failure: list[BaseException]
    ) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app, access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            where = f"{self.host}:{self.port}"
            sock, self._sock = self._sock, None
            if sock is None:
                raise OSError("no listening socket (start() was not called)")
            loop.run_until_complete(web.SockSite(runner, sock).start())
            self._runner = runner
            if self.seed:
                where = f"origin port {self.host}:{self.origin_port}"
                m = self.media
                self.origin = loop.run_until_complete(SharedPort(
                    self.host, self.origin_port, rtmp=(m.host, m.rtmp_port),
                    http=(m.host, m.http_port),
                    local=lambda ip: is_loopback(ip) or ip == self.host).start())
        except BaseException as e:
            hint = " (choose another with --origin-port)" if "origin" in where else ""
            err = OSError(f"{where}: {e}{hint}")
            err.__cause__ = e
            failure.append(err)
            self._loop = None  # closed here, before start() hears of it and stops
            self._close_on(loop, runner)
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            self._close_on(loop, runner)

    def _close_on(self, loop: asyncio.AbstractEventLoop, runner: web.AppRunner) -> None:
        if self.llhls_origin is not None:  # its pulls (ffmpeg) end, its waiters answer
            loop.run_until_complete(self.llhls_origin.close())
        if self.origin is not None:
            loop.run_until_complete(self.origin.close())
            self.origin = None
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        """Stop the API thread and nginx (by PID); idempotent."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._runner = None
        if self._sock is not None:  # start() failed before the site took it
            self._sock.close()
            self._sock = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.media.stop()

    def __enter__(self) -> ReferencePlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0: any free port) and listening, for web.SockSite."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's TCPSite
        sock.bind((host, port))
        sock.listen(4096)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _OneLineErrors(argparse.ArgumentParser):
    """A bad option is one line (argparse would print the usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option_values parser as an argparse type: its reason becomes the error."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return check


def serve(argv: list[str] | None = None) -> int:
    """`streamperf platform serve`: run the reference platform in the foreground."""
    p = _OneLineErrors(
        prog="streamperf platform serve", description="Run the bundled reference platform."
    )
    p.add_argument("--host", default="127.0.0.1", type=_checked(bind_address),
                   help="IPv4 address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_checked(tcp_port), default=8080,
                   help="API port (default 8080)")
    p.add_argument("--media-port", type=_checked(tcp_port), default=None,
                   help="RTMP port (default: free)")
    p.add_argument("--workdir", type=Path, default=None, help="state dir (default: a temp dir)")
    p.add_argument("--ready-delay", type=_checked(parse_duration), default=0.0,
                   help="time from alerts to ready, e.g. 2s (default 0)")
    p.add_argument("--allow-exposed", action="store_true",
                   help="let --host be an address beyond loopback (a private network)")
    p.add_argument("--seed", action="store_true",
                   help="answer exactly as the seed's backend did: origin address only, "
                        "ingest and edge redirect on --origin-port")
    p.add_argument("--origin-port", type=_checked(tcp_port), default=SEED_ORIGIN_PORT,
                   help=f"with --seed: the origin's RTMP+HTTP port (default {SEED_ORIGIN_PORT})")
    llhls = p.add_mutually_exclusive_group()
    llhls.add_argument("--llhls", action="store_const", const="on", dest="llhls", default="",
                       help="also serve each published stream as LL-HLS under /llhls")
    llhls.add_argument("--llhls-storm", action="store_const", const="storm", dest="llhls",
                       help="as --llhls, but blocking reloads are answered at once (a broken "
                            "origin: a reload storm for viewers to survive)")
    args = p.parse_args(argv)
    if args.seed and args.llhls:
        p.error("--seed answers exactly as the seed's backend did: no --llhls")
    if args.workdir is not None:
        return _serve(args, args.workdir)
    workdir = Path(tempfile.mkdtemp(prefix="streamperf-platform-"))
    try:
        return _serve(args, workdir)
    finally:  # its SQLite file holds the stream keys: gone with the platform
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(args: argparse.Namespace, workdir: Path) -> int:
    try:
        platform = ReferencePlatform(
            workdir,
            host=args.host,
            port=args.port,
            media_port=args.media_port,
            ready_delay_s=args.ready_delay,
            seed=args.seed,
            origin_port=args.origin_port,
            llhls=args.llhls,
            allow_exposed=args.allow_exposed,
        )
    except OSError as e:  # the address is not this machine's, a port is taken
        print(f"streamperf platform serve: {args.host}: {e.strerror or e}", file=sys.stderr)
        return 1
    except PlatformExposedError as e:
        print(f"streamperf platform serve: {e}", file=sys.stderr)
        return 2

    def _term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always", PlatformExposedWarning)
            platform.start()
    except Exception as e:
        print(f"streamperf platform serve: {e}", file=sys.stderr)
        return 1
    for w in warned:
        print(f"WARNING: {w.message}", file=sys.stderr, flush=True)
    m = platform.media
    print(f"API / streams API: {platform.base_url}")
    if platform.seed:
        origin = f"{m.host}:{platform.origin_port}"
        print("answers:           the seed backend's, exactly (origin address only)")
        print(f"RTMP ingest:       rtmp://{origin}/live/<username> (once the influencer "
              "asked for servers: stream alerts)")
        print(f"edge redirect:     http://{origin}/redirect/live/<username>")
        print(f"edge (playback):   {m.rtmp_url('<username>_source')}")
    else:
        print(f"RTMP ingest:       {m.ingest_url('<username>_source')}?key=<stream key> "
              "(servers_status.ingest_url of the influencer's sign-in answer)")
        print(f"HLS:               {m.hls_url('<username>_source')}")
        if platform.llhls:
            storm = (" (storm: blocking reloads answered at once)"
                     if platform.llhls == "storm" else "")
            print(f"LL-HLS:            {platform.base_url}{playlist_path('<username>_source')}"
                  f"{storm}")
    print(f"stat:              {m.stat_url}")
    print(f"work dir:          {workdir}")
    print(f"streams API token: {platform.streams_token}  (secret; shown only here)")
    print("Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
