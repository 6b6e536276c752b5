"""LoadHosts without a network: the ssh_config it writes, the gateway specs, the host rows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streamperf.hosts.prepare import HostInfo
from streamperf.hosts.remote import LoadHost, LoadHosts, ssh_config
from streamperf.hosts.specs import parse_host_spec
from streamperf.load.workers import WorkerPool


def info(host: str, offset: float = 0.0, cpus: int = 4, remote_dir: str = "") -> HostInfo:
    return HostInfo(host, "3.11.2", f"/r/{host}/venv/bin/python", 1024, 4096, offset, 0.0004,
                    "0.1.0", cpus=cpus, remote_dir=remote_dir)


def prepared(tmp_path: Path, *specs: str, remote_dir: str = "~/.streamperf",
             cpus: tuple[int, ...] = ()) -> LoadHosts:
    parsed = [parse_host_spec(s) for s in specs]
    hosts = LoadHosts(parsed, tmp_path, key_file=Path("/k/id ed"), remote_dir=remote_dir)
    # As prepare() resolves it on the host: `~` is that host's home.
    hosts.hosts = [LoadHost(spec, info(spec.host, 0.25 * i, (cpus or (4,) * len(parsed))[i],
                                       hosts.remote_dir(spec).replace("~", f"/home/{i}")),
                            f"streamperf-host-{i}") for i, spec in enumerate(parsed)]
    return hosts


def test_ssh_config_verifies_host_keys_and_never_prompts():
    spec = parse_host_spec("root@127.0.0.2:2222")
    text = ssh_config([("streamperf-host-0", spec)], Path("/k/my key"), Path("/kh/known"), False)
    assert text.splitlines()[:4] == ["Host streamperf-host-0", "  HostName 127.0.0.2",
                                     "  Port 2222", "  User root"]
    for line in ('IdentityFile "/k/my key"', "IdentitiesOnly yes", "StrictHostKeyChecking yes",
                 'UserKnownHostsFile "/kh/known"', "BatchMode yes", "ServerAliveInterval 5"):
        assert f"  {line}\n" in text
    insecure = ssh_config([("a", spec)], None, Path("/kh/known"), True)
    assert "StrictHostKeyChecking no" in insecure and "UserKnownHostsFile /dev/null" in insecure
    assert "IdentityFile" not in insecure


def test_openssh_reads_the_generated_config(tmp_path):
    """`ssh -G` resolves the alias exactly as the gateway's ssh will (no connection made)."""
    spec = parse_host_spec("ops@10.9.8.7:2200")
    conf = tmp_path / "ssh_config"
    conf.write_text(ssh_config([("streamperf-host-0", spec)], tmp_path / "a key",
                               tmp_path / "known hosts", False))
    out = subprocess.run(["ssh", "-G", "-F", str(conf), "streamperf-host-0"],
                         capture_output=True, text=True, check=True).stdout.lower()
    for line in ("hostname 10.9.8.7", "port 2200", "user ops", "batchmode yes",
                 "stricthostkeychecking true", f"userknownhostsfile {tmp_path}/known hosts",
                 f"identityfile {tmp_path}/a key"):
        assert line in out.splitlines(), line


def test_one_worker_per_host_named_by_address(tmp_path):
    hosts = prepared(tmp_path, "root@127.0.0.2:2222", "127.0.0.3")
    workers = hosts.workers("1", "run-1")
    assert [w.host for w in workers] == ["127.0.0.2:2222", "127.0.0.3:22"]
    assert workers[0].spec == (f"ssh=streamperf-host-0//python=/r/127.0.0.2/venv/bin/python"
                               f"//ssh_config={tmp_path / 'ssh_config'}")
    assert [w.clock_offset_s for w in workers] == [0.0, 0.25]
    # Resolved on the host when it was prepared: shards need no shell to find it.
    assert workers[1].log_dir == "/home/1/.streamperf/logs/run-1"


def test_procs_per_host_auto_uses_each_hosts_cores_process_major(tmp_path):
    hosts = prepared(tmp_path, "a", "b", cpus=(3, 1))
    names = [w.host for w in hosts.workers("auto", "r")]
    # Every host's first process before any second one: few fans still reach every host.
    assert names == ["a:22/0", "b:22", "a:22/1", "a:22/2"]
    assert [w.host for w in hosts.workers("2", "r")] == ["a:22/0", "b:22/0", "a:22/1", "b:22/1"]


def test_remote_dir_per_host_when_homes_are_shared(tmp_path):
    hosts = prepared(tmp_path, "root@127.0.0.2:2222", remote_dir="/tmp/sp/{host}/")
    assert hosts.remote_dir(hosts.specs[0]) == "/tmp/sp/127.0.0.2_2222"
    assert hosts.workers("1", "r9")[0].log_dir == "/tmp/sp/127.0.0.2_2222/logs/r9"
    assert LoadHosts([parse_host_spec("h")], tmp_path).remote_dir(parse_host_spec("h")) == (
        "~/.streamperf")  # the default, as the user gets it


def test_host_rows_and_description(tmp_path):
    hosts = prepared(tmp_path, "root@127.0.0.2:2222", "127.0.0.3")
    rows = hosts.rows()
    assert {(r.host, r.event, r.name) for r in rows} == {
        (h, "load_host", n) for h in ("127.0.0.2:2222", "127.0.0.3:22")
        for n in ("clock_offset_s", "rtt_s", "cpus", "nofile")}
    assert {r.detail for r in rows} == {"python 3.11.2, streamperf 0.1.0"}
    described = hosts.describe()
    assert described[1]["host"] == "127.0.0.3:22" and described[1]["spec"] == "127.0.0.3:22"
    assert described[1]["clock_offset_s"] == 0.25


def test_workers_need_prepared_hosts(tmp_path):
    with pytest.raises(RuntimeError, match="prepare"):
        LoadHosts([parse_host_spec("a")], tmp_path).workers("1", "r")


def test_a_worker_that_cannot_start_is_lost_with_all_its_fans():
    from streamperf.hosts.processes import WorkerSpec

    lost: list[tuple[int, str, str, list[str]]] = []
    workers = WorkerPool([WorkerSpec("popen//python=/nonexistent/python3", "gone:22")],
                           lambda rows: None, lambda *a: lost.append(a))
    workers.start()
    workers.launch([{"fans": [{"username": "fan1"}, {"username": "fan2"}]}])
    assert workers.join(5)
    assert lost and lost[0][:2] == (0, "gone:22") and lost[0][3] == ["fan1", "fan2"]
    assert lost[0][2].startswith("failed to start: ")
    assert workers.lost_hosts == {"gone:22": lost[0][2]}
    workers.terminate()


def test_shards_raise_their_open_files_limit_to_the_hard_limit():
    import resource

    from streamperf.load.shard import raise_open_files_limit

    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        hard = before[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_open_files_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_each_run_is_checked_against_the_hosts_open_files_limit(tmp_path):
    from streamperf.hosts.prepare import HostPrepareError

    hosts = prepared(tmp_path, "a", "b")  # soft 1024, hard 4096 each
    hosts.check_open_files(7000, "1")  # 3500 per process + 256 spare fits under 4096
    with pytest.raises(HostPrepareError) as e:
        hosts.check_open_files(10000, "1")
    assert str(e.value).startswith("a:22: open-files limit (ulimit -n) hard 4096, soft 1024, "
                                   "but 5000 viewers need 5256")
    hosts.check_open_files(10000, "2")  # two processes per host: 2500 each


def test_logs_of_an_unreachable_host_are_reported_missing_not_raised(tmp_path):
    hosts = prepared(tmp_path, "root@127.0.0.1:1")  # nothing listens on port 1
    missing = hosts.collect_logs("run-1", tmp_path / "hosts")
    assert missing == {"127.0.0.1:1": "cannot reach 127.0.0.1:1: connection refused"}
