# Inputs of the streamperf load-fleet module. Nothing secret lives here: AWS
# credentials come from your usual provider configuration (environment, profile,
# SSO), never from this repository.

variable "region" {
  type        = string
  description = "AWS region of the fleet"
  default     = "us-east-1"
}

variable "instance_count" {
  type        = number
  description = "Number of load-generator instances"
  default     = 1
  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= var.max_instances
    error_message = "instance_count must be between 1 and max_instances."
  }
}

variable "max_instances" {
  type        = number
  description = "Guard against a typo in instance_count (raise it on purpose)"
  default     = 20
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type (docs/fleet.md: viewers per type and bitrate)"
  default     = "c6in.xlarge"
}

variable "image_id" {
  type        = string
  description = "AMI: the one infra/packer builds, or Debian 12 / Ubuntu 24.04 (Python >= 3.11)"
}

variable "key_name" {
  type        = string
  description = "EC2 key pair the controller logs in with (null: none)"
  default     = null
}

variable "subnet_id" {
  type        = string
  description = "Subnet for the instances (null: the default VPC's)"
  default     = null
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups: SSH in from the controller"
  default     = []
}

variable "associate_public_ip" {
  type        = bool
  description = "Give each instance a public address (controller outside the VPC)"
  default     = true
}

variable "use_private_ip" {
  type        = bool
  description = "Write private addresses to the hosts file (controller inside the VPC)"
  default     = false
}

variable "ssh_user" {
  type        = string
  description = "Login user of the AMI (Debian: admin, Ubuntu: ubuntu)"
  default     = "admin"
}

variable "idle_shutdown_seconds" {
  type        = number
  description = "An instance with no SSH session for this long powers off, which terminates it"
  default     = 7200
}

variable "nofile" {
  type        = number
  description = "Open-files limit on the instances (one per viewer)"
  default     = 1048576
}

variable "root_volume_gb" {
  type        = number
  description = "Root volume size in GiB"
  default     = 16
}

variable "hosts_file" {
  type        = string
  description = "Where to write the hosts file that `pytest --hosts-file` reads"
  default     = "streamperf-hosts"
}

variable "tags" {
  type        = map(string)
  description = "Extra tags (the streamperf:fleet tag is always set)"
  default     = {}
}
