"""RunSettings: every option of a run, parsed and validated in one place.

The pytest plugin and the CLI both build RunSettings from strings through
`OPTIONS`, so a bad value gets the same one-line message everywhere. How
each kind of value is parsed lives in option_values.py.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamperf.hosts.specs import (
    DEFAULT_REMOTE_DIR,
    HostSpec,
    is_loopback,
    parse_host_specs,
    read_hosts_file,
)
from streamperf.media.rungs import Rung
from streamperf.option_values import (
    MAX_USERS,
    abr_mode,
    any_text,
    existing_file,
    fleet_ref,
    host_list,
    hosts_file_path,
    http_url,
    ingest_url,
    int_in,
    listen_address,
    name_or_path,
    one_of,
    parse_duration,
    parse_ladder,
    parse_protocol_mix,
    parse_think_time,
    platform_ref,
    play_url,
    positive_duration,
    positive_kbps,
    process_count,
    tcp_port,
)
from streamperf.platforms.seed.conventions import (
    SEED_CODE_TEXT,
    SEED_FAN_PASSWORD,
    SEED_ORIGIN_PORT,
)
from streamperf.redact import MASK, redact, redact_obj, remember, stream_key, url_secrets
from streamperf.viewers import PROTOCOLS
from streamperf.viewers.cmcd import CMCD_MODES

#: --bundled-platform modes: "extended" also answers explicit URLs (ingest, edge
#: redirect, RTMP and HLS playback); "seed" answers exactly as the seed's backend did.
BUNDLED_MODES = ("extended", "seed")


class SettingsError(ValueError):
    """A bad option value; the message is one line naming option and value."""


@dataclass(frozen=True)
class Option:
    """One run option: its flag, RunSettings field, parser, env var and help."""

    flag: str
    field: str
    parse: Callable[[str], Any]
    help: str
    env: str | None = None
    secret: bool = False
    is_flag: bool = False
    repeat: bool = False  # may be given several times; the field is a tuple
    #: the value the option takes when given bare (argparse nargs="?"); None: it needs one
    bare: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option("--users", "users", int_in(1, MAX_USERS),
           "number of fans watching (default 10; scenario sets)"),
    Option("--ramp", "ramp_s", parse_duration, "time between fans joining, e.g. 200ms"),
    Option("--duration", "duration_s", positive_duration, "how long each fan watches, e.g. 60s"),
    Option("--timeout", "timeout_s", positive_duration, "API response timeout (default 10s)"),
    Option("--percentnew", "percent_new", int_in(0, 100), "0-100 percent of new fans"),
    Option("--existingoffset", "existing_offset", int_in(0), "first N of existing testfanN"),
    Option(
        "--precreatefans",
        "precreate_fans",
        bool,
        "pre-create existing fans and follow the influencer (idempotent)",
        is_flag=True,
    ),
    Option("--sleepbetweensteps", "sleep_between_steps", parse_think_time,
           "think time in a fan's journey: 'seed' for the seed's per-step pauses (3s after "
           "sign-up, 5s after the code, 5s after the marketplace, 1s after following), or a "
           "duration paused after every step (default 0: none)"),
    Option("--fan-password", "fan_password", any_text,
           f"password of the test fans (default {SEED_FAN_PASSWORD}, the seed's)",
           env="STREAMPERF_FAN_PASSWORD", secret=True),
    Option("--code-text", "code_text", any_text,
           f"code a new fan uses (default {SEED_CODE_TEXT}, the seed's)"),
    Option("--origin-port", "origin_port", tcp_port,
           f"port of the origin when the platform answers with an origin address only: "
           f"ingest rtmp://ORIGIN:PORT/live/USER and edge redirect "
           f"http://ORIGIN:PORT/redirect/live/USER (default {SEED_ORIGIN_PORT}, the seed's); "
           "the seed-mode bundled platform listens there"),
    Option("--email", "email", any_text, "influencer email", env="STREAMPERF_EMAIL"),
    Option(
        "--token", "token", any_text, "influencer oauth token", env="STREAMPERF_TOKEN", secret=True
    ),
    Option("--videopath", "video_path", any_text, "video file to loop (default: synthetic clip)"),
    Option("--apiurl", "api_url", http_url, "platform API base URL (default: bundled platform)",
           env="STREAMPERF_APIURL"),
    Option("--streamsapiurl", "streams_api_url", http_url,
           "streams API base URL (default: apiurl)", env="STREAMPERF_STREAMSAPIURL"),
    Option("--streamsapitoken", "streams_api_token", any_text, "streams API key",
           env="STREAMPERF_STREAMSAPITOKEN", secret=True),
    Option("--platform", "platform", platform_ref,
           "your platform adapter: module:Class, or the name of a streamperf.platforms "
           "entry point (docs/platforms.md); default: the seed API (--apiurl) or the bundled "
           "platform"),
    Option("--play-url", "play_urls", play_url,
           "watch this stream URL with no platform API (repeatable: viewers spread over the "
           "URLs); rtmp://, http(s)://...m3u8 (HLS), ...mpd (DASH) or ...flv (HTTP-FLV)",
           repeat=True),
    Option("--ingest-url", "ingest_url", ingest_url,
           "publish the source here (rtmp://...) with --play-url; without it streamperf "
           "publishes nothing and watches a stream someone else publishes"),
    Option("--source-kbps", "source_kbps", positive_kbps,
           "the source's bitrate in kbps, for bitrate ratios when streamperf does not publish "
           "(default: measured from the stream, labelled as measured)"),
    Option("--platform-host", "platform_host", listen_address,
           "address the bundled platform listens on and hands out (default 127.0.0.1); "
           "one the load hosts can reach when they are other machines"),
    Option("--allow-exposed", "allow_exposed", bool, "let --platform-host be beyond loopback "
           "(a private network: anyone who reaches it can sign fans up)", is_flag=True),
    Option("--media-port", "media_port", tcp_port, "bundled platform's RTMP port (default: free); "
           "in seed mode its edge's"),
    Option("--bundled-platform", "bundled_platform", one_of(*BUNDLED_MODES),
           "the bundled platform's answers: extended (default; explicit ingest and playback "
           "URLs) or seed (exactly the seed backend's answers: origin address only, ingest "
           "and Wowza-style edge redirect on --origin-port)"),
    Option("--protocol", "protocol", one_of(*PROTOCOLS), "playback protocol (default rtmp)"),
    Option("--protocol-mix", "protocol_mix", parse_protocol_mix,
           "share of fans per protocol, e.g. rtmp=70,hls=30 (overrides --protocol)"),
    Option("--abr", "abr", abr_mode,
           "how HLS/DASH viewers of a ladder choose renditions: hlsjs (hls.js 1.5's rules; "
           "the default for HLS), dashjs (dash.js 4.7's; the default for DASH), or pinned: "
           "highest, lowest, or a rendition's name (e.g. 480p) (docs/abr.md)"),
    Option("--cmcd", "cmcd", one_of(*CMCD_MODES),
           "send CMCD (CTA-5004) keys with each HLS/DASH request, as a query parameter or "
           "as headers, so CDN logs join to the event log by session id (sid = viewer)"),
    Option("--ladder", "ladder", parse_ladder,
           "the bundled platform encodes the clip (or --videopath) into renditions once "
           "(cached) and serves them as an HLS master playlist and a DASH manifest: "
           "NAME:BITRATE[:HEIGHTp],... e.g. 720p:2400k,480p:1100k,240p:350k (a height from "
           "the name or the third field, width from the source's aspect); bare, or "
           "'default', is that ladder (a bare --ladder just before a test path takes the "
           "path: write --ladder default there); RTMP plays the top rendition",
           bare="default"),
    Option("--reconnect", "reconnect", bool,
           "a viewer whose connection drops (or never opens) connects again, with backoff, "
           "for the rest of its --duration; the gap counts as stall time (default off: a "
           "dropped viewer stays dropped)", is_flag=True),
    Option("--republish", "republish", bool,
           "restart the publisher (ffmpeg) when it dies, with backoff, and keep the run "
           "going; the gap shows in every viewer (default off: its death makes the run "
           "invalid)", is_flag=True),
    Option("--lag-threshold", "lag_threshold_s", positive_duration,
           "drift over which a viewer counts as lagged (default 3s)"),
    Option("--calibration", "calibration_s", parse_duration,
           "how long one lone viewer plays from the origin before the first run, for the "
           "latency the tool and origin cost alone (default 5s; 0 skips it)"),
    Option("--report-dir", "report_dir", any_text, "where run directories go (default reports)"),
    Option("--procs", "procs", process_count,
           "viewer processes on this machine: N or auto (one per core); default 1"),
    Option("--sshhosts", "ssh_hosts", host_list,
           "load-generator hosts for the viewers: 'user@host[:port] ...' (as the seed) or "
           "'ssh=-p PORT user@host' specs; the controller keeps the publisher",
           env="STREAMPERF_SSHHOSTS"),
    Option("--hosts-file", "hosts_file", hosts_file_path,
           "file with one host spec per line (# comments), added to --sshhosts"),
    Option("--sshkeyfile", "ssh_key_file", existing_file,
           "private key for the load hosts (default: ssh agent and ~/.ssh keys)"),
    Option("--known-hosts", "known_hosts", existing_file,
           "known_hosts to verify the load hosts' keys against (default ~/.ssh/known_hosts)"),
    Option("--ssh-insecure", "ssh_insecure", bool,
           "do not verify the load hosts' keys (warned about; throwaway hosts only)",
           is_flag=True),
    Option("--fleet", "fleet", fleet_ref,
           "load hosts on EC2: N starts a fleet of N instances before the run and "
           "terminates it after (also on failure, Ctrl-C, SIGTERM); a fleet id (spf-...) "
           "reuses a running fleet; settings in [tool.streamperf.fleet] (docs/fleet.md)"),
    Option("--keep-fleet", "keep_fleet", bool,
           "leave the --fleet instances running after the run, for the next one "
           "(`streamperf fleet down --fleet ID` ends them; the idle shutdown does if you forget)",
           is_flag=True),
    Option("--procs-per-host", "procs_per_host", process_count,
           "viewer processes per load host: N or auto (one per core of the host); default 1"),
    Option("--remote-dir", "remote_dir", any_text,
           "directory on the load hosts for the venv, wheels and logs (default ~/.streamperf); "
           "{host} in it becomes the host's address, for hosts that share a home directory"),
    Option("--sla", "sla", any_text, "an SLA threshold, e.g. 'p95(startup_s) < 3' (repeatable; "
           "overrides [tool.streamperf] sla in pyproject.toml)", repeat=True),
    Option("--save-baseline", "save_baseline", name_or_path,
           "store this run's figures as baseline NAME (or a .json path)"),
    Option("--baseline", "baseline", name_or_path,
           "compare with baseline NAME|PATH and fail on regressions"),
    Option("--baseline-tolerance", "baseline_tolerance", any_text,
           "regression allowed against the baseline: 20% (default), or per figure "
           "'15%,startup_p95_s=30%'"),
)


@dataclass
class RunSettings:
    users: int = 10
    ramp_s: float = 0.5
    duration_s: float = 60.0
    timeout_s: float = 10.0
    percent_new: int = 0
    existing_offset: int = 0
    precreate_fans: bool = False
    sleep_between_steps: float | str = 0.0  # seconds, or SEED_THINK
    fan_password: str = SEED_FAN_PASSWORD
    code_text: str = SEED_CODE_TEXT
    origin_port: int = SEED_ORIGIN_PORT
    email: str = "influencer@streamperf.test"
    token: str = ""
    video_path: str = ""
    api_url: str = ""
    streams_api_url: str = ""
    streams_api_token: str = ""
    platform: str = ""
    play_urls: tuple[str, ...] = ()
    ingest_url: str = ""
    source_kbps: float | None = None
    platform_host: str = "127.0.0.1"
    allow_exposed: bool = False
    media_port: int | None = None
    bundled_platform: str = BUNDLED_MODES[0]
    ladder: tuple[Rung, ...] = ()  # the bundled platform's renditions; empty: one
    protocol: str = "rtmp"
    abr: str = ""  # "": each protocol's player (hlsjs for HLS, dashjs for DASH)
    cmcd: str = ""
    protocol_mix: tuple[tuple[str, int], ...] = ()
    reconnect: bool = False
    republish: bool = False
    lag_threshold_s: float = 3.0
    calibration_s: float = 5.0
    report_dir: str = "reports"
    procs: str = "1"
    ssh_hosts: str = ""
    hosts_file: str = ""
    ssh_key_file: str = ""
    known_hosts: str = ""
    ssh_insecure: bool = False
    fleet: str = ""  # a count of instances to start, or a fleet id to reuse
    keep_fleet: bool = False
    procs_per_host: str = "1"
    remote_dir: str = DEFAULT_REMOTE_DIR
    sla: tuple[str, ...] = ()
    save_baseline: str = ""
    baseline: str = ""
    baseline_tolerance: str = "20%"
    #: options given explicitly (CLI/env), which override scenario values
    explicit: frozenset[str] = field(default_factory=frozenset)

    def with_scenario(self, scenario: Mapping[str, Any]) -> RunSettings:
        """Scenario values apply unless the user set that option explicitly."""
        changes = {k: v for k, v in scenario.items() if k not in self.explicit}
        return dataclasses.replace(self, **changes)

    @property
    def protocol_shares(self) -> tuple[tuple[str, int], ...]:
        return self.protocol_mix or ((self.protocol, 100),)

    @property
    def load_hosts(self) -> list[HostSpec]:
        """--sshhosts then --hosts-file, parsed; empty for a run on this machine."""
        specs = parse_host_specs(self.ssh_hosts)
        if self.hosts_file:
            specs += read_hosts_file(Path(self.hosts_file))
        return specs

    @property
    def uses_bundled_platform(self) -> bool:
        return not (self.api_url or self.platform or self.play_urls)

    def __repr__(self) -> str:  # pytest prints reprs: the secrets masked, as in the records
        return "RunSettings(" + ", ".join(f"{k}={v!r}" for k, v in self.redacted().items()) + ")"

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked, for logs and reports: secret options
        as `***`, and every other value through redact.py (URL credentials, stream
        keys, passwords in host specs)."""
        out = dataclasses.asdict(self)
        out.pop("explicit")
        for opt in OPTIONS:
            if opt.secret and out.get(opt.field):
                out[opt.field] = MASK
        return dict(redact_obj(out))

    def secret_values(self) -> list[str]:
        """What must never be written: secret options' values, the credentials in its
        URLs, and the stream key of --ingest-url (the last part of its path)."""
        found = [str(getattr(self, opt.field)) for opt in OPTIONS if opt.secret]
        for url in (self.api_url, self.streams_api_url, self.ingest_url, *self.play_urls):
            found += url_secrets(url)
        if self.ingest_url:  # given by the user: its key is secret even if a play URL shows it
            found.append(stream_key(self.ingest_url) or "")
        return [v for v in found if v]

    def remember_secrets(self) -> None:
        """Register `secret_values` with the process's redactor (redact.py)."""
        remember(*self.secret_values())

    def validate(self) -> None:
        """Checks across options (each option's own value is checked by its parser)."""
        if self.video_path and not Path(self.video_path).is_file():
            raise SettingsError(f"--videopath: no such file: {self.video_path}")
        self._validate_platform_choice()
        self._validate_ladder()
        remote = bool(self.ssh_hosts or self.hosts_file or self.fleet)
        if remote and self.procs != "1":
            raise SettingsError("--procs runs viewers on this machine; with --sshhosts, "
                                "--hosts-file or --fleet use --procs-per-host")
        if self.keep_fleet and not self.fleet:
            raise SettingsError("--keep-fleet needs --fleet")
        if not remote:
            for flag, name in (("--procs-per-host", "procs_per_host"),
                               ("--sshkeyfile", "ssh_key_file"),
                               ("--known-hosts", "known_hosts"),
                               ("--ssh-insecure", "ssh_insecure")):
                if name in self.explicit:
                    raise SettingsError(f"{flag} needs --sshhosts, --hosts-file or --fleet")
        if not self.uses_bundled_platform and "bundled_platform" in self.explicit:
            raise SettingsError("--bundled-platform chooses the bundled platform's answers; "
                                "with --apiurl your platform answers")
        if (self.uses_bundled_platform and self.bundled_platform == "seed"
                and self.media_port == self.origin_port):
            raise SettingsError(f"--media-port {self.media_port} is --origin-port too: in seed "
                                "mode the origin port and the edge's RTMP port differ")
        specs = self.load_hosts
        self.check_platform_reach(specs)
        names = [s.address for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SettingsError(f"load host named twice: {', '.join(dupes)}")

    def check_platform_reach(self, specs: Iterable[HostSpec]) -> None:
        """A bundled platform: beyond loopback only with --allow-exposed, and on loopback
        not for load hosts elsewhere (also checked once a --fleet's hosts are known)."""
        if self.uses_bundled_platform and not (is_loopback(self.platform_host)
                                               or self.allow_exposed):
            raise SettingsError(f"--platform-host {self.platform_host} is beyond loopback: "
                                "anyone who reaches it can sign fans up; add --allow-exposed")
        if self.uses_bundled_platform and is_loopback(self.platform_host):
            far = [s.address for s in specs if not is_loopback(s.host)]
            if far:
                raise SettingsError(
                    f"load host {far[0]} cannot reach the bundled platform on "
                    f"{self.platform_host}; pass --platform-host with an address it can "
                    "reach, or --apiurl for your platform")

    def _validate_ladder(self) -> None:
        """A ladder is the bundled platform's own (it encodes and serves the renditions),
        and its extended mode's: the seed's answers have no playlist to name them."""
        if not self.ladder:
            return
        given = self.explicit
        for flag, name in (("--play-url", "play_urls"), ("--apiurl", "api_url"),
                           ("--platform", "platform")):
            if name in given:
                raise SettingsError(f"--ladder does not go with {flag}: the ladder is the "
                                    "bundled platform's, and another platform answers here")
        if self.bundled_platform == "seed":
            raise SettingsError("--ladder does not go with --bundled-platform seed: the "
                                "seed's answers name one RTMP stream, no renditions")

    def _validate_platform_choice(self) -> None:
        """One way in: the seed API (--apiurl), an adapter (--platform) or URLs."""
        given = self.explicit
        if self.ingest_url and not self.play_urls:
            raise SettingsError("--ingest-url needs --play-url: where the viewers play")
        if self.play_urls:
            for flag, name in (("--platform", "platform"), ("--apiurl", "api_url"),
                               ("--protocol", "protocol"), ("--protocol-mix", "protocol_mix")):
                if name in given:
                    why = ("the URL says the protocol" if "protocol" in name
                           else "there is no platform API with --play-url")
                    raise SettingsError(f"{flag} does not go with --play-url: {why}")
        elif "source_kbps" in given and not self.platform:
            raise SettingsError("--source-kbps is for streams streamperf does not publish "
                                "(--play-url); it measures its own source")
        if self.platform and "api_url" in given:
            raise SettingsError("--platform does not go with --apiurl: the adapter "
                                "reaches its platform itself")


OPTION_BY_FIELD = {opt.field: opt for opt in OPTIONS}


def add_options(add: Callable[..., Any], fields: Iterable[str] | None = None,
                dest_prefix: str = "") -> None:
    """Declare options with `add`: pytest's `group.addoption` or argparse's
    `parser.add_argument`, so the plugin and the CLI take them alike (values stay
    raw strings; `parse_options` checks them)."""
    for opt in OPTIONS if fields is None else [OPTION_BY_FIELD[f] for f in fields]:
        # argparse %-formats help texts: a literal "20%" would break `--help`.
        help_text = (opt.help + (f" [env {opt.env}]" if opt.env else "")).replace("%", "%%")
        action = "store_true" if opt.is_flag else "append" if opt.repeat else "store"
        bare = {"nargs": "?", "const": opt.bare} if opt.bare is not None else {}
        add(opt.flag, action=action, default=None, dest=f"{dest_prefix}{opt.field}",
            help=help_text, **bare)
        if opt.secret:  # the secret from a file: it stays out of `ps` and shell history
            env = f" [env {opt.env}_FILE]" if opt.env else ""
            add(f"{opt.flag}{FILE_SUFFIX}", action="store", default=None,
                dest=f"{dest_prefix}{opt.field}{FILE_FIELD}",
                help=f"read {opt.flag} from this file (its first line){env}")


#: every secret option X also has X-file (and env VAR_FILE): the value read from a file
FILE_SUFFIX = "-file"
FILE_FIELD = "__file"  # the raw values' key of X-file: "<field>__file"


def raw_fields(fields: Iterable[str] | None = None) -> list[str]:
    """The keys of the raw values `add_options` declares: each option's field, and
    `<field>__file` for secret ones."""
    opts = OPTIONS if fields is None else [OPTION_BY_FIELD[f] for f in fields]
    return [name for opt in opts
            for name in ((opt.field, opt.field + FILE_FIELD) if opt.secret else (opt.field,))]


def _secret_from_file(opt: Option, path: str) -> str:
    """The first line of the file `path` (trailing newline and spaces dropped)."""
    flag = f"{opt.flag}{FILE_SUFFIX}"
    try:
        with open(Path(path).expanduser(), encoding="utf-8") as f:
            value = f.readline(65536).strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise SettingsError(f"{flag} {redact(path)}: cannot read it ({why})") from None
    if not value:
        raise SettingsError(f"{flag} {redact(path)}: the file is empty")
    return value


def _raw_value(opt: Option, values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """The option's raw value: given, from its -file, from its env var or env var _FILE."""
    raw = values.get(opt.field)
    path = values.get(opt.field + FILE_FIELD) if opt.secret else None
    if raw is not None and path is not None:
        raise SettingsError(f"{opt.flag} and {opt.flag}{FILE_SUFFIX}: give one of them")
    if path is not None:
        return _secret_from_file(opt, str(path))
    if raw is None and opt.env and env.get(opt.env):
        return env[opt.env]
    if raw is None and opt.secret and opt.env and env.get(opt.env + "_FILE"):
        return _secret_from_file(opt, env[opt.env + "_FILE"])
    return raw


def parse_options(values: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                  fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Raw values (None = not given; env vars fill in) parsed by their options' parsers:
    {field: value} for those given. Raises SettingsError naming option and value."""
    env = os.environ if environ is None else environ
    parsed: dict[str, Any] = {}
    for opt in OPTIONS if fields is None else [OPTION_BY_FIELD[f] for f in fields]:
        raw = _raw_value(opt, values, env)
        if raw is None or (opt.is_flag and raw is False) or (opt.repeat and not raw):
            continue
        for one in (raw if opt.repeat else [raw]):
            try:
                value = opt.parse(one)
            except ValueError as exc:
                text = str(one)  # the value that is wrong, as one line
                shown = MASK if opt.secret else redact(
                    text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)")
                raise SettingsError(f"{opt.flag} {shown}: {exc}") from None
            parsed[opt.field] = (*parsed.get(opt.field, ()), value) if opt.repeat else value
    return parsed


def build_settings(values: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                   ) -> RunSettings:
    """Parse raw option values (None = not given) and env vars into RunSettings."""
    parsed = parse_options(values, environ)
    settings = RunSettings(**parsed, explicit=frozenset(parsed))
    settings.remember_secrets()
    settings.validate()
    return settings
