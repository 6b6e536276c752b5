# An AMI for streamperf load generators: Debian 12 with ffmpeg, python3-venv and
# streamperf (from a wheelhouse you build on the controller) preinstalled in
# /opt/streamperf/venv, its wheelhouse kept in /opt/streamperf/wheelhouse, and the
# idle auto-shutdown timer enabled. Credentials come from your AWS environment;
# nothing secret is in this file.
#
#   python -c 'from streamperf.hosts.prepare import build_wheelhouse as b; b(__import__("pathlib").Path("wheelhouse"))'
#   packer init infra/packer && packer build -var wheelhouse=$PWD/wheelhouse \
#       -var source_ami_owner=<Debian's AWS account, see infra/README.md> infra/packer

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "c6i.large"
}

variable "source_ami_owner" {
  type        = string
  description = "AWS account that publishes the base image (Debian's official one: infra/README.md)"
}

variable "source_ami_name" {
  type    = string
  default = "debian-12-amd64-*"
}

variable "wheelhouse" {
  type        = string
  description = "Directory with streamperf's wheel and its dependencies' wheels (x86_64, cp311)"
}

variable "ssh_username" {
  type    = string
  default = "admin"
}

source "amazon-ebs" "streamperf" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = var.ssh_username
  ami_name      = "streamperf-load-host-${formatdate("YYYYMMDD-hhmmss", timestamp())}"

  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  tags = {
    "streamperf:image" = "load-host"
  }
}

build {
  sources = ["source.amazon-ebs.streamperf"]

  provisioner "shell" {
    inline = [
      "sudo apt-get update",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg rtmpdump python3-venv iproute2",
      "sudo install -d -o ${var.ssh_username} /opt/streamperf/wheelhouse /tmp/streamperf-systemd",
    ]
  }

  provisioner "file" {
    source      = "${var.wheelhouse}/"
    destination = "/opt/streamperf/wheelhouse"
  }

  provisioner "file" {
    source      = "${path.root}/../systemd/"
    destination = "/tmp/streamperf-systemd"
  }

  provisioner "shell" {
    inline = [
      "sudo python3 -m venv /opt/streamperf/venv",
      "sudo /opt/streamperf/venv/bin/python -m pip -q install --no-index --find-links /opt/streamperf/wheelhouse requests aiohttp psutil uvloop",
      "sudo /opt/streamperf/venv/bin/python -m pip -q install --no-index --no-deps /opt/streamperf/wheelhouse/streamperf-*.whl",
      "/opt/streamperf/venv/bin/python -c 'import streamperf; print(\"streamperf\", streamperf.__version__)'",
      "sudo install -m 0755 /tmp/streamperf-systemd/streamperf-idle-shutdown /usr/local/bin/streamperf-idle-shutdown",
      "sudo install -m 0644 /tmp/streamperf-systemd/streamperf-idle-shutdown.service /tmp/streamperf-systemd/streamperf-idle-shutdown.timer /etc/systemd/system/",
      "echo IDLE_SECONDS=7200 | sudo tee /etc/default/streamperf-idle-shutdown",
      "sudo systemctl enable streamperf-idle-shutdown.timer",
      "printf '* soft nofile 1048576\\n* hard nofile 1048576\\n' | sudo tee /etc/security/limits.d/90-streamperf.conf",
    ]
  }
}
