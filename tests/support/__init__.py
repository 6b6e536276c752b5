"""Helpers the test files share: one of each, imported as `tests.support.<module>`.

Servers and recordings a viewer plays against:
  loopback_servers   servers on 127.0.0.1 at a free port: a blocking TCP one on a thread,
                     `LoopbackServer` (asyncio) that the others build on, an aiohttp app
                     (`serving`, `start_app`), `port_free`
  replay             servers replaying recorded bytes to a viewer: `RtmpReplay`,
                     `HttpReplay` (HTTP-FLV), scripts of bytes, pauses and closes
  flv_recordings     the recorded HTTP-FLV sessions and a reference reading of them
  recording          what the recording scripts in tests/data share
  dash_media         ffmpeg's DASH muxer on the synthetic clip: live and final MPDs, fMP4
                     segments (`record_dash`), and its command line (`dash_command`)
  node_media_server  node-media-server (npm) on free ports, for tests and benchmarks
  fault_server       a platform API proxy that fails chosen endpoints on purpose
  lo_shaping         bandwidth caps on lo with tc, taken in turn (`shaping_lo`; `capped_port`
                     in the integration conftest)
  live_ladder        a live three-rendition ladder over HLS and DASH (ffmpeg), served on a port
                     a test can cap
  llhls_media        real fragmented MP4 as the LL-HLS origin's ffmpeg pull writes it
  real_players       hls.js and dash.js in headless Chromium, and what they report of a play
  sshd_lab           real sshd on loopback addresses with throwaway keys
  local_ec2          moto's EC2 endpoint on loopback, for fleet tests

Running things:
  loops              a coroutine on asyncio or uvloop (`run`; the `run_loop` fixture)
  viewer_events      `Events`, a viewer's on_event calls kept in order
  viewer_runs        a viewer through its server stopping mid-play
  lone_viewer        one streamperf viewer played alone, its figures from streamperf's analysis
  nested_pytest      a pytest of a test's own in a subprocess, and the runs it wrote
  direct_runs        perf runs on a stream given by URL (no platform API)
  processes          SIGINT as a terminal sends it, stopping processes by PID
  schedule           actions at set times while a block runs (faults mid-run)
  collected          what a pytest session selected (tests/unit/test_phases.py)

Data with known answers:
  timelines          synthetic event logs whose figures are worked out by hand
  report_logs        synthetic logs for chart, report and CLI tests, the seed tool's rows
  ladder_log         a ladder run's log, written by EventWriter, its figures worked out by hand
  llhls_log          an LL-HLS run's log (requests, blocking reloads, a reload storm), written
                     by EventWriter, its origin-load figures worked out by hand
  pandas_oracle      the plain pandas analysis, the reference the fast one is held to
  fuzz_properties    the parsers' fuzz properties (test_fuzz_parsers.py, benchmarks/fuzz.py)
"""
