# N interchangeable streamperf load generators. Each carries the tag
# "streamperf:fleet" = <fleet id>, as `streamperf fleet up` sets it, so
# `streamperf fleet status|down --fleet <id>` see and end these instances too.
# Instance-initiated shutdown terminates: the idle auto-shutdown in the user
# data ends a forgotten instance for good.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5"
    }
    local = {
      source  = "hashicorp/local"
      version = ">= 2.4"
    }
  }
}

provider "aws" {
  region = var.region
}

resource "random_id" "fleet" {
  byte_length = 4
}

locals {
  fleet_id = "spf-${random_id.fleet.hex}"
  tags = merge(var.tags, {
    "streamperf:fleet" = local.fleet_id
    "Name"             = "streamperf-${local.fleet_id}"
  })
}

resource "aws_instance" "load_host" {
  count                                = var.instance_count
  ami                                  = var.image_id
  instance_type                        = var.instance_type
  key_name                             = var.key_name
  subnet_id                            = var.subnet_id
  vpc_security_group_ids               = var.security_group_ids
  associate_public_ip_address          = var.associate_public_ip
  instance_initiated_shutdown_behavior = "terminate"

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    idle_seconds = var.idle_shutdown_seconds
    nofile       = var.nofile
    idle_script  = file("${path.module}/../systemd/streamperf-idle-shutdown")
    idle_service = file("${path.module}/../systemd/streamperf-idle-shutdown.service")
    idle_timer   = file("${path.module}/../systemd/streamperf-idle-shutdown.timer")
  })

  root_block_device {
    volume_size = var.root_volume_gb
    volume_type = "gp3"
  }

  tags        = local.tags
  volume_tags = local.tags
}

resource "local_file" "hosts" {
  filename        = var.hosts_file
  file_permission = "0644"
  content = join("\n", concat(
    ["# streamperf fleet ${local.fleet_id}: ${var.instance_count} x ${var.instance_type} in ${var.region}"],
    [for i in aws_instance.load_host : "${var.ssh_user}@${var.use_private_ip ? i.private_ip : i.public_ip}"],
    [""],
  ))
}
