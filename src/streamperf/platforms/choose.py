"""Which PlatformAdapter a session uses, from its settings.

In order: `--platform module:Class` (or an entry point name in the
`streamperf.platforms` group); `--play-url` (the direct adapter);
`--apiurl` (the seed API); else the bundled platform, started here.
A conftest.py that overrides the `platform` fixture bypasses this.
"""

from __future__ import annotations

from pathlib import Path

from streamperf.load.adapter import PlatformAdapter
from streamperf.load.direct import DirectPlatform
from streamperf.load.seed_adapter import BundledPlatform, SeedApiPlatform
from streamperf.option_values import load_platform_class
from streamperf.settings import RunSettings


def custom_platform(ref: str, settings: RunSettings) -> PlatformAdapter:
    """`Class.from_settings(settings)` when the class has it, else `Class()`."""
    cls = load_platform_class(ref)
    factory = getattr(cls, "from_settings", None)
    adapter = factory(settings) if callable(factory) else cls()
    return adapter  # type: ignore[no-any-return]


def make_platform(settings: RunSettings, workdir: Path) -> PlatformAdapter:
    s = settings
    if s.platform:
        return custom_platform(s.platform, s)
    if s.play_urls:
        return DirectPlatform(s.play_urls, s.ingest_url)
    seed = {"email": s.email, "timeout_s": s.timeout_s,
            "sleep_between_steps": s.sleep_between_steps, "code_text": s.code_text,
            "origin_port": s.origin_port}
    if s.uses_bundled_platform:
        return BundledPlatform(workdir / "platform", host=s.platform_host,
                               media_port=s.media_port,
                               streams_token=s.streams_api_token or None,
                               seed_mode=s.bundled_platform == "seed",
                               token=s.token, **seed).start()
    return SeedApiPlatform(s.api_url, s.streams_api_url or s.api_url, s.streams_api_token,
                           token=s.token, precreate=s.precreate_fans, **seed)
