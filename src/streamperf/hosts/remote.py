"""The load hosts of a session: prepared once, shard gateways per run, logs after.

Preparation (hosts/prepare.py, paramiko) runs on every host at once, one
thread each; a host that fails names itself and fails the set-up. Shards
reach the hosts through execnet `ssh=` gateways, which run the OpenSSH
client: a generated ssh_config gives it the same key, known_hosts and
host-key policy as the paramiko checks, so both verify the same way.
"""

from __future__ import annotations

import math
import shlex
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streamperf.hosts.logs import collect_logs
from streamperf.hosts.prepare import (
    HostInfo,
    build_wheelhouse,
    nofile_verdict,
    prepare,
)
from streamperf.hosts.processes import WorkerSpec, resolve_procs
from streamperf.hosts.specs import DEFAULT_REMOTE_DIR, HostSpec
from streamperf.hosts.ssh import SshHost, SshHostError, default_known_hosts
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event


class LoadHostWarning(UserWarning):
    """Something about a load host worth knowing that does not stop the run."""


@dataclass(frozen=True)
class LoadHost:
    spec: HostSpec
    info: HostInfo
    alias: str  # its Host entry in the generated ssh_config

    @property
    def name(self) -> str:
        """The event log's host column for this host's shards."""
        return self.spec.address


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ssh_config(hosts: list[tuple[str, HostSpec]], key_file: Path | None,
               known_hosts: Path, insecure: bool) -> str:
    """An OpenSSH client config with one Host entry per (alias, spec)."""
    blocks = []
    for alias, spec in hosts:
        lines = [f"Host {alias}", f"  HostName {spec.host}", f"  Port {spec.port}"]
        if spec.user:
            lines.append(f"  User {spec.user}")
        if key_file is not None:
            lines += [f"  IdentityFile {_quote(str(key_file))}", "  IdentitiesOnly yes"]
        if insecure:
            lines += ["  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null"]
        else:
            lines += ["  StrictHostKeyChecking yes",
                      f"  UserKnownHostsFile {_quote(str(known_hosts))}"]
        # Never prompt (a prompt would hang the run); notice a dead link within ~15 s.
        lines += ["  BatchMode yes", "  ConnectTimeout 10", "  ServerAliveInterval 5",
                  "  ServerAliveCountMax 3", "  LogLevel ERROR"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def gateway_spec(alias: str, python: str, ssh_config: Path) -> str:
    """execnet's spec for a shard on a load host. execnet puts `python` into the
    remote shell's command line as it is, so it is shell-quoted here: a --remote-dir
    with a space or `$(...)` is a path, never a command."""
    return f"ssh={alias}//python={shlex.quote(python)}//ssh_config={ssh_config}"


class LoadHosts:
    def __init__(
        self,
        specs: list[HostSpec],
        workdir: Path,
        *,
        key_file: Path | None = None,
        known_hosts: Path | None = None,
        insecure: bool = False,
        remote_dir: str = DEFAULT_REMOTE_DIR,
    ) -> None:
        if not specs:
            raise ValueError("no load hosts")
        self.specs = specs
        self.workdir = workdir
        self.key_file = key_file
        self.known_hosts = known_hosts or default_known_hosts()
        self.insecure = insecure
        self._remote_dir = remote_dir.rstrip("/") or "/"
        self.hosts: list[LoadHost] = []
        self.config_path = workdir / "ssh_config"

    def _ssh(self, spec: HostSpec) -> SshHost:
        return SshHost(spec, key_file=self.key_file, known_hosts=self.known_hosts,
                       insecure=self.insecure)

    def prepare_each(self, viewers_per_host: int) -> list[HostInfo | str]:
        """Prepare every host at once; each result is its HostInfo or a one-line error."""
        wheelhouse = build_wheelhouse()

        def one(spec: HostSpec) -> HostInfo:
            with self._ssh(spec) as host:
                return prepare(host, wheelhouse, self.remote_dir(spec), viewers_per_host)

        results: list[HostInfo | str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", category=UserWarning)
            with ThreadPoolExecutor(min(len(self.specs), 16)) as pool:
                futures = [pool.submit(one, spec) for spec in self.specs]
            for spec, future in zip(self.specs, futures, strict=True):
                try:
                    results.append(future.result())
                except SshHostError as exc:
                    results.append(str(exc))
                except Exception as exc:  # SFTP/IO trouble: still one line naming the host
                    results.append(f"{spec.address}: {type(exc).__name__}: {exc}")
        for w in {str(w.message): w for w in caught}.values():  # once per host, not per thread
            warnings.warn(w.message, w.category, stacklevel=2)
        return results

    def prepare(self, viewers_planned: int) -> list[LoadHost]:
        """Every host ready for `viewers_planned` viewers in all; raises naming each failure."""
        results = self.prepare_each(math.ceil(viewers_planned / len(self.specs)))
        failures = [r for r in results if isinstance(r, str)]
        if failures:
            raise SshHostError("; ".join(failures))
        infos = [r for r in results if isinstance(r, HostInfo)]
        for note in (n for info in infos for n in info.warnings):
            warnings.warn(note, LoadHostWarning, stacklevel=2)
        self.hosts = [LoadHost(spec, info, f"streamperf-host-{i}")
                      for i, (spec, info) in enumerate(zip(self.specs, infos, strict=True))]
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(ssh_config([(h.alias, h.spec) for h in self.hosts],
                                               self.key_file, self.known_hosts, self.insecure))
        return self.hosts

    def check_open_files(self, viewers_planned: int, procs_per_host: str) -> None:
        """A run may plan more viewers than the hosts were prepared for: check each
        worker process's share against its host's hard limit (raises HostPrepareError)."""
        per_process = math.ceil(viewers_planned / sum(self._process_counts(procs_per_host)))
        for h in self.hosts:
            nofile_verdict(h.name, h.info.nofile, h.info.nofile_hard, per_process)

    def _process_counts(self, procs_per_host: str) -> list[int]:
        """--procs-per-host resolved per prepared host (auto: the host's cores)."""
        if not self.hosts:
            raise RuntimeError("prepare() the load hosts first")
        return [resolve_procs(h.info.cpus if procs_per_host == "auto" else procs_per_host)
                for h in self.hosts]

    def remote_dir(self, spec: HostSpec) -> str:
        """--remote-dir for that host as given (`~` not yet resolved); `{host}` becomes its
        address (hosts sharing a home)."""
        return self._remote_dir.replace("{host}", spec.address.replace(":", "_"))

    @staticmethod
    def log_dir(host: LoadHost, run_id: str) -> str:
        """Absolute: shards and log collection need no shell to find it."""
        return f"{host.info.remote_dir}/logs/{run_id}"

    def workers(self, procs_per_host: str, run_id: str) -> list[WorkerSpec]:
        """Gateway specs, host by host; a host with several processes names them host/k.

        Ordered process-major (every host's first process, then every host's
        second...) so a run with fewer fans than processes still uses all hosts.
        """
        counts = self._process_counts(procs_per_host)
        out: list[WorkerSpec] = []
        for k in range(max(counts)):
            for host, n in zip(self.hosts, counts, strict=True):
                if k >= n:
                    continue
                name = host.name if n == 1 else f"{host.name}/{k}"
                spec = gateway_spec(host.alias, host.info.venv_python, self.config_path)
                out.append(WorkerSpec(spec, name, host.info.clock_offset_s,
                                      self.log_dir(host, run_id)))
        return out

    def rows(self) -> list[Event]:
        """One load_host row per figure per host, for the event log."""
        now = time.time()
        out = []
        for h in self.hosts:
            detail = f"python {h.info.python}, streamperf {h.info.streamperf_version}"
            for name, value in (("clock_offset_s", h.info.clock_offset_s),
                                ("rtt_s", h.info.rtt_s), ("cpus", h.info.cpus),
                                ("nofile", h.info.nofile)):
                out.append(Event(now, h.name, "", ev.LOAD_HOST, name, float(value), "", detail))
        return out

    def describe(self) -> list[dict[str, Any]]:
        """For summary.json: each host's spec and what preparing it found."""
        return [{**asdict(h.info), "host": h.name, "spec": str(h.spec)} for h in self.hosts]

    def collect_logs(self, run_id: str, dest: Path) -> dict[str, str]:
        """Each host's logs of run `run_id` into dest/<host>/, all hosts at once;
        returns host -> why its logs could not be copied."""

        def one(h: LoadHost) -> None:
            with self._ssh(h.spec) as ssh:
                collect_logs(ssh, self.log_dir(h, run_id), dest / h.name.replace(":", "_"))

        errors: dict[str, str] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # --ssh-insecure was warned about once
            with ThreadPoolExecutor(min(len(self.hosts), 16) or 1) as pool:
                futures = {h.name: pool.submit(one, h) for h in self.hosts}
        for name, future in futures.items():
            exc = future.exception()
            if exc is not None:  # logs are a help: never lose the run's summary over them
                errors[name] = str(exc) or type(exc).__name__
        return errors
