"""Which PlatformAdapter a session uses, from its settings.

In order: `--platform module:Class` (or an entry point name in the
`streamperf.platforms` group); `--play-url` (the direct adapter);
`--apiurl` (the seed API); else the bundled platform, started here.
A conftest.py that overrides the `platform` fixture bypasses this.

The built-in adapters are named here and loaded as `--platform` loads
a team's, so nothing generic imports the seed's or the bundled platform's
package. `settings` is the run's RunSettings (streamperf.settings, which
takes the seed's defaults from this package, so it is read by attribute
here rather than imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamperf.option_values import load_platform_class
from streamperf.platforms.adapter import PlatformAdapter
from streamperf.platforms.direct import DirectPlatform

#: The seed tool's API against a backend of the user's (--apiurl).
SEED_API = "streamperf.platforms.seed.adapter:SeedApiPlatform"
#: The bundled reference platform, started for the session (no --apiurl).
BUNDLED = "streamperf.platforms.reference.adapter:BundledPlatform"


def custom_platform(ref: str, settings: Any) -> PlatformAdapter:
    """`Class.from_settings(settings)` when the class has it, else `Class()`."""
    cls = load_platform_class(ref)
    factory = getattr(cls, "from_settings", None)
    adapter = factory(settings) if callable(factory) else cls()
    return adapter  # type: ignore[no-any-return]


def make_platform(settings: Any, workdir: Path) -> PlatformAdapter:
    s = settings
    if s.platform:
        return custom_platform(s.platform, s)
    if s.play_urls:
        return DirectPlatform(s.play_urls, s.ingest_url)
    if s.uses_bundled_platform:
        bundled: Any = load_platform_class(BUNDLED)
        return bundled.for_session(s, workdir / "platform")  # type: ignore[no-any-return]
    seed: Any = load_platform_class(SEED_API)
    return seed.from_settings(s)  # type: ignore[no-any-return]
