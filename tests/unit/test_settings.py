from __future__ import annotations

import pytest

from streamperf.settings import RunSettings, SettingsError, build_settings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1.5m", 90.0), ("90", 90.0), (" 3 s ", 3.0), ("1h", 3600.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"users": "-1"}, "--users -1: -1 is out of range (must be at least 1)"),
        ({"users": "abc"}, "--users abc: not an integer: 'abc'"),
        ({"percent_new": "150"},
         "--percentnew 150: 150 is out of range (must be between 0 and 100)"),
        ({"ramp_s": "soon"}, "--ramp soon: not a duration: 'soon'"),
        ({"duration_s": "0s"}, "--duration 0s: '0s' must be more than zero"),
        ({"protocol": "udp"}, "--protocol udp: 'udp' is not one of rtmp"),
        ({"media_port": "70000"}, "--media-port 70000: 70000 is out of range"),
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
    for bad, why in [("rtmp=70,hls=20", "add up to 100"), ("udp=100", "not PROTOCOL=PERCENT"),
                     ("rtmp=50,rtmp=50", "named twice"), ("rtmp", "not PROTOCOL=PERCENT")]:
        with pytest.raises(SettingsError, match=why):
            build_settings({"protocol_mix": bad}, environ={})
