output "fleet_id" {
  description = "The streamperf:fleet tag's value (streamperf fleet status|down --fleet ID)"
  value       = local.fleet_id
}

output "instance_ids" {
  value = aws_instance.load_host[*].id
}

output "addresses" {
  description = "The addresses in the hosts file"
  value       = [for i in aws_instance.load_host : var.use_private_ip ? i.private_ip : i.public_ip]
}

output "hosts_file" {
  description = "Path of the hosts file: pytest tests/perf --hosts-file PATH"
  value       = local_file.hosts.filename
}
