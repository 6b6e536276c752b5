"""Host spec parsing: seed style, xdist/execnet style, hosts files."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamperf.hosts.specs import HostSpec, parse_host_spec, parse_host_specs, read_hosts_file


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("root@127.0.0.2:2222", HostSpec("127.0.0.2", "root", 2222)),
        ("root@127.0.0.3", HostSpec("127.0.0.3", "root", 22)),
        ("loadgen1", HostSpec("loadgen1", None, 22)),
        ("u@[::1]:2200", HostSpec("::1", "u", 2200)),
        ("ssh=root@h1", HostSpec("h1", "root", 22)),
        ("ssh=-p 2222 root@127.0.0.2", HostSpec("127.0.0.2", "root", 2222)),
        (
            "ssh=-p2222 root@h//python=/opt/py/bin/python3",
            HostSpec("h", "root", 2222, "/opt/py/bin/python3"),
        ),
        ("ssh=-l bob -p 2 h//id=w1//chdir=/tmp", HostSpec("h", "bob", 2)),
        ("root@h:2200//python=/usr/bin/python3.12", HostSpec("h", "root", 2200,
                                                              "/usr/bin/python3.12")),
    ],
)
def test_parse(text: str, want: HostSpec) -> None:
    assert parse_host_spec(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "",
        "root@",
        "@h",
        "h:0",
        "h:99999",
        "h:abc",
        "a:b:c",
        "ssh=root@h:2222",  # execnet passes this to ssh, which has no host:port
        "ssh=-o X=1 h",
        "ssh=-p",
        "popen//python=python3",
        "ssh=h//bogus=1",
        "ssh=",
        "ssh=a b",
    ],
)
def test_bad_spec_is_one_line_value_error(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_host_spec(text)
    assert "\n" not in str(e.value)


def test_sshhosts_option_and_xspec_round_trip() -> None:
    specs = parse_host_specs("root@127.0.0.2:2222 root@127.0.0.3:2222")
    assert [str(s) for s in specs] == ["root@127.0.0.2:2222", "root@127.0.0.3:2222"]
    assert specs[0].xspec() == "ssh=-p 2222 root@127.0.0.2//python=python3"
    assert parse_host_spec(specs[0].xspec()) == specs[0]


def test_sshhosts_mixes_both_spellings() -> None:
    text = "ssh=-p 2222 root@127.0.0.2, root@127.0.0.3:2222 ssh=-l bob -p2 h//python=py3 x"
    assert parse_host_specs(text) == [
        HostSpec("127.0.0.2", "root", 2222),
        HostSpec("127.0.0.3", "root", 2222),
        HostSpec("h", "bob", 2, "py3"),
        HostSpec("x", None, 22),
    ]
    with pytest.raises(ValueError, match="names no host"):
        parse_host_specs("root@h ssh=-p 2222")


def test_hosts_file(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    f.write_text("# load hosts\nroot@h1:2222  # first\n\nssh=-p 22 u@h2//python=python3.12\n")
    assert read_hosts_file(f) == [
        HostSpec("h1", "root", 2222),
        HostSpec("h2", "u", 22, "python3.12"),
    ]
    f.write_text("ok@h\nbad@\n")
    with pytest.raises(ValueError, match=r"hosts:2: bad host"):
        read_hosts_file(f)
