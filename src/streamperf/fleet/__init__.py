"""Cloud fleets: load-generator instances on EC2, brought up, listed and torn down.

config.py reads the fleet's settings ([tool.streamperf.fleet], then command
line); ec2.py holds every boto3 call; user_data.py renders the script a new
instance runs; idle_shutdown.py is the systemd unit that stops a forgotten
fleet; host_keys.py and hosts_file.py turn running instances into a hosts
file with verified keys; pricing.py knows what an instance type costs and
carries; lifecycle.py strings them together for the CLI and the pytest
session. Nothing here imports pytest.
"""
