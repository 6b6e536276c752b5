"""infra/ as CI can check it without a cloud: the terraform parses (python-hcl2) and
declares every variable it uses, the packer template has its amazon-ebs builder and
provisioners, the systemd files are the ones `streamperf fleet up` installs, and no
key, token or account id is in there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from streamperf.fleet.ec2 import FLEET_TAG
from streamperf.fleet.idle_shutdown import FILES

INFRA = Path(__file__).resolve().parents[2] / "infra"
VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


def _name(key: str) -> str:
    return key.strip('"')


def _strings(node: Any) -> list[str]:
    """Every string value in a parsed HCL document (comments left out)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() if k != "__comments__" for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)  # type: ignore[no-any-return]


def _declared(doc: dict[str, Any]) -> set[str]:
    return {_name(k) for block in doc.get("variable", []) for k in block}


def _used(docs: list[dict[str, Any]]) -> set[str]:
    return {m for doc in docs for s in _strings(doc) for m in VAR_REF.findall(s)}


def test_terraform_declares_every_variable_it_uses_and_uses_every_one() -> None:
    docs = {p.name: _parse(p) for p in sorted((INFRA / "terraform").glob("*.tf"))}
    assert {"variables.tf", "main.tf", "outputs.tf"} <= set(docs)
    declared = set().union(*(_declared(d) for d in docs.values()))
    used = _used(list(docs.values()))
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"
    assert {"instance_count", "instance_type", "image_id", "idle_shutdown_seconds"} <= declared


def test_terraform_tags_instances_as_streamperf_fleets_and_writes_a_hosts_file() -> None:
    main = _parse(INFRA / "terraform" / "main.tf")
    resources = {(_name(kind), _name(name)): body for block in main["resource"]
                 for kind, named in block.items() for name, body in named.items()}
    instance = resources[("aws_instance", "load_host")]
    assert instance["count"] == "${var.instance_count}"
    assert _name(instance["instance_initiated_shutdown_behavior"]) == "terminate"
    assert "user_data.sh.tftpl" in instance["user_data"]
    local_tags = "".join(_strings(main["locals"]))
    assert f'"{FLEET_TAG}"' in local_tags or FLEET_TAG in local_tags
    assert ("local_file", "hosts") in resources
    outputs = {_name(k) for block in _parse(INFRA / "terraform" / "outputs.tf")["output"]
               for k in block}
    assert {"fleet_id", "hosts_file", "instance_ids"} <= outputs


def test_terraform_user_data_template_gets_every_value_it_names() -> None:
    template = (INFRA / "terraform" / "user_data.sh.tftpl").read_text()
    names = set(re.findall(r"\$\{([a-z_]+)\}", template))
    call = _parse(INFRA / "terraform" / "main.tf")["resource"]
    passed = set(re.findall(r"(\w+)\s*=", "".join(
        s for s in _strings(call) if "templatefile" in s).split("{", 1)[1]))
    assert names and names <= passed, names - passed
    for path in re.findall(r"\.\./systemd/([\w.-]+)", "".join(_strings(call))):
        assert (INFRA / "systemd" / path).is_file()


def test_packer_template_has_an_amazon_ebs_builder_and_provisioners() -> None:
    doc = _parse(INFRA / "packer" / "streamperf.pkr.hcl")
    sources = {(_name(kind), _name(name)): body for block in doc["source"]
               for kind, named in block.items() for name, body in named.items()}
    ebs = sources[("amazon-ebs", "streamperf")]
    for key in ("region", "instance_type", "ssh_username", "ami_name", "source_ami_filter"):
        assert key in ebs, key
    (build,) = doc["build"]
    assert [_name(s) for s in build["sources"]] == ["source.amazon-ebs.streamperf"]
    kinds = [_name(k) for p in build["provisioner"] for k in p]
    assert kinds.count("shell") >= 2 and "file" in kinds
    shell = " ".join(_strings(build["provisioner"]))
    for needed in ("ffmpeg", "python3-venv", "streamperf-*.whl", "import streamperf",
                   "streamperf-idle-shutdown.timer"):
        assert needed in shell, needed
    assert _used([doc]) <= _declared(doc)


@pytest.mark.parametrize("name", sorted(FILES))
def test_infra_systemd_files_are_the_ones_fleet_up_installs(name: str) -> None:
    assert (INFRA / "systemd" / name).read_text() == FILES[name]


def test_infra_holds_no_key_token_or_account_id() -> None:
    for path in INFRA.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text()
        assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text), path
        assert "PRIVATE KEY" not in text, path
        assert not re.search(r"(?<![\d.])\d{12}(?![\d.])", text), f"account id? {path}"
        assert not re.search(r"aws_secret_access_key|secret_key\s*=", text, re.I), path
