from __future__ import annotations

import pytest

from streamperf.option_values import parse_duration
from streamperf.settings import RunSettings, SettingsError, build_settings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1.5m", 90.0), ("90", 90.0), (" 3 s ", 3.0), ("1h", 3600.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"users": "-1"}, "--users -1: -1 is out of range (must be between 1 and 1000000)"),
        ({"users": "abc"}, "--users abc: not an integer: 'abc'"),
        ({"percent_new": "150"},
         "--percentnew 150: 150 is out of range (must be between 0 and 100)"),
        ({"ramp_s": "soon"}, "--ramp soon: not a duration: 'soon'"),
        ({"duration_s": "0s"}, "--duration 0s: '0s' must be more than zero"),
        ({"protocol": "udp"}, "--protocol udp: 'udp' is not one of rtmp"),
        ({"media_port": "70000"}, "--media-port 70000: 70000 is out of range"),
        ({"api_url": "not-a-url"}, "--apiurl not-a-url: use an http:// or https:// URL"),
        ({"api_url": "http://"}, "--apiurl http://: use an http:// or https:// URL with a host"),
        ({"api_url": "http://h:99999"}, "--apiurl http://h:99999: not a URL (Port out of"),
        ({"streams_api_url": "localhost:8080"}, "--streamsapiurl localhost:8080: use an http"),
    ],
)
def test_bad_values_name_option_and_value(values, message):
    with pytest.raises(SettingsError) as exc:
        build_settings(values, environ={})
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_secret_from_env_is_redacted_even_in_errors():
    s = build_settings({}, environ={"STREAMPERF_TOKEN": "tok-123", "STREAMPERF_APIURL": "http://x"})
    assert s.token == "tok-123"
    assert s.api_url == "http://x"
    assert s.redacted()["token"] == "***"
    assert "tok-123" not in repr(s.redacted())


def test_good_urls_keep_path_and_lose_trailing_slash():
    s = build_settings({"api_url": "https://api.example.com/v2/", "streams_api_url":
                        "http://[::1]:8080"}, environ={})
    assert (s.api_url, s.streams_api_url) == ("https://api.example.com/v2", "http://[::1]:8080")


def test_explicit_options_override_scenario_but_others_do_not():
    s = build_settings({"users": "7"}, environ={})
    run = s.with_scenario({"users": 50, "ramp_s": 0.05, "duration_s": 30.0})
    assert (run.users, run.ramp_s, run.duration_s) == (7, 0.05, 30.0)
    assert RunSettings().with_scenario({"users": 3}).users == 3


def test_missing_video_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="no such file"):
        build_settings({"video_path": str(tmp_path / "none.flv")}, environ={})


def test_protocol_mix_parses_and_checks_shares():
    s = build_settings({"protocol_mix": "rtmp=70,hls=30"}, environ={})
    assert s.protocol_shares == (("rtmp", 70), ("hls", 30))
    assert build_settings({"protocol": "hls"}, environ={}).protocol_shares == (("hls", 100),)
    assert build_settings({"protocol": "flv"}, environ={}).protocol_shares == (("flv", 100),)
    mixed = build_settings({"protocol_mix": "rtmp=50,hls=25,flv=25"}, environ={})
    assert mixed.protocol_shares == (("rtmp", 50), ("hls", 25), ("flv", 25))
    for bad, why in [("rtmp=70,hls=20", "add up to 100"), ("udp=100", "not PROTOCOL=PERCENT"),
                     ("rtmp=50,rtmp=50", "named twice"), ("rtmp", "not PROTOCOL=PERCENT")]:
        with pytest.raises(SettingsError, match=why):
            build_settings({"protocol_mix": bad}, environ={})


def test_load_hosts_from_sshhosts_and_hosts_file(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# fleet\nssh=-p 2200 ubuntu@10.0.0.7//python=/usr/bin/python3.12\n\n")
    s = build_settings({"ssh_hosts": "root@127.0.0.2:2222, root@127.0.0.3:2222",
                        "hosts_file": str(hosts), "api_url": "http://10.0.0.1"}, environ={})
    assert s.ssh_hosts == "root@127.0.0.2:2222 root@127.0.0.3:2222"
    got = [(h.user, h.host, h.port, h.python) for h in s.load_hosts]
    assert got[:2] == [("root", "127.0.0.2", 2222, "python3"),
                       ("root", "127.0.0.3", 2222, "python3")]
    assert got[2] == ("ubuntu", "10.0.0.7", 2200, "/usr/bin/python3.12")
    from_env = build_settings({}, environ={"STREAMPERF_SSHHOSTS": "root@127.0.0.2:2222"})
    assert [str(h) for h in from_env.load_hosts] == ["root@127.0.0.2:2222"]
    assert RunSettings().load_hosts == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ssh_hosts": "root@h:99999"}, "--sshhosts root@h:99999: bad port '99999'"),
        ({"ssh_hosts": " , "}, "--sshhosts  , : names no host"),
        ({"ssh_hosts": "127.0.0.2", "procs": "2"},
         "--procs runs viewers on this machine; with --sshhosts, --hosts-file or --fleet "
         "use --procs-per-host"),
        ({"fleet": "2", "procs": "2"},
         "--procs runs viewers on this machine; with --sshhosts, --hosts-file or --fleet "
         "use --procs-per-host"),
        ({"keep_fleet": True}, "--keep-fleet needs --fleet"),
        ({"fleet": "0"}, "--fleet 0: expected a number of instances or a fleet id"),
        ({"fleet": "spf-xyz"}, "--fleet spf-xyz: expected a number of instances or a fleet id"),
        ({"procs_per_host": "2"}, "--procs-per-host needs --sshhosts, --hosts-file or --fleet"),
        ({"ssh_insecure": True}, "--ssh-insecure needs --sshhosts, --hosts-file or --fleet"),
        ({"ssh_hosts": "127.0.0.2 root@127.0.0.2:22"}, "load host named twice: 127.0.0.2:22"),
        ({"ssh_hosts": "10.1.2.3"},
         "load host 10.1.2.3:22 cannot reach the bundled platform on 127.0.0.1; pass "
         "--platform-host"),
        ({"platform_host": "0.0.0.0"}, "--platform-host 0.0.0.0: use the one address"),
        ({"platform_host": "example.com"}, "--platform-host example.com: use an IPv4 address"),
        ({"procs_per_host": "0", "ssh_hosts": "127.0.0.2"},
         "--procs-per-host 0: 0 is out of range"),
    ],
)
def test_bad_scale_out_options_are_one_line_errors(values, message):
    with pytest.raises(SettingsError) as exc:
        build_settings(values, environ={})
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_far_hosts_are_fine_with_a_reachable_platform(tmp_path):
    key = tmp_path / "id"
    key.write_text("k")
    far = {"ssh_hosts": "10.1.2.3", "platform_host": "10.1.2.1", "ssh_key_file": str(key),
           "procs_per_host": "auto"}
    # beyond loopback, the bundled platform is exposed: only when asked for (issue 24)
    with pytest.raises(SettingsError, match=r"--platform-host 10.1.2.1 is beyond loopback.*"
                       "--allow-exposed"):
        build_settings(far, environ={})
    s = build_settings({**far, "allow_exposed": True}, environ={})
    assert (s.platform_host, s.procs_per_host, s.ssh_key_file) == ("10.1.2.1", "auto", str(key))
    assert build_settings({"ssh_hosts": "10.1.2.3", "api_url": "http://p:8080"},
                          environ={}).load_hosts[0].host == "10.1.2.3"
    with pytest.raises(SettingsError, match=r"--sshkeyfile .*: no such file"):
        build_settings({"ssh_hosts": "10.1.2.3", "ssh_key_file": str(tmp_path / "none")},
                       environ={})
    with pytest.raises(SettingsError, match=r"--hosts-file .*: No such file"):
        build_settings({"hosts_file": str(tmp_path / "none")}, environ={})


def test_seed_values_are_the_defaults_and_options_override_them():
    s = build_settings({})
    assert (s.origin_port, s.fan_password, s.code_text) == (2000, "Password42", "leti")
    assert s.bundled_platform == "extended" and s.sleep_between_steps == 0.0
    s = build_settings({"origin_port": "19350", "fan_password": "pw", "code_text": "SPRING",
                        "bundled_platform": "seed", "sleep_between_steps": "seed"})
    assert (s.origin_port, s.fan_password, s.code_text) == (19350, "pw", "SPRING")
    assert s.bundled_platform == "seed" and s.sleep_between_steps == "seed"
    assert s.redacted()["fan_password"] == "***"
    assert build_settings({"sleep_between_steps": "1.5s"}).sleep_between_steps == 1.5


@pytest.mark.parametrize(("values", "message"), [
    ({"origin_port": "0"}, "--origin-port 0: 0 is out of range"),
    ({"sleep_between_steps": "sometimes"}, "--sleepbetweensteps sometimes: not a duration or"),
    ({"bundled_platform": "wowza"}, "--bundled-platform wowza: 'wowza' is not one of"),
    ({"bundled_platform": "seed", "api_url": "http://api.example.com"},
     "with --apiurl your platform answers"),
    ({"bundled_platform": "seed", "media_port": "2000"}, "--media-port 2000 is --origin-port"),
])
def test_bad_seed_options_are_one_line_errors(values, message):
    with pytest.raises(SettingsError) as exc:
        build_settings(values)
    assert message in str(exc.value) and "\n" not in str(exc.value)
