"""The bundled platform's LL-HLS origin (platforms/reference/llhls/): its fMP4 reader on
real bytes of its own ffmpeg pull, and its store and playlist fed those fragments."""

from __future__ import annotations

import itertools
import re
import struct
from datetime import datetime

import pytest

from streamperf.media.publisher import default_cache_dir, synthetic_clip
from streamperf.platforms.reference.llhls.fragments import (
    NON_SYNC,
    Fmp4Error,
    Fmp4Reader,
    Fragment,
    InitSection,
    parse_fragment,
)
from streamperf.platforms.reference.llhls.origin import llhls_mode
from streamperf.platforms.reference.llhls.playlist import render
from streamperf.platforms.reference.llhls.store import StreamStore
from tests.support.llhls_media import pulled_fmp4

BASE = 1_800_000_000.0  # the capture clock of media time 0 in the fed stores
DELAY_S = 0.05  # a paced fragment's arrival after its media end


@pytest.fixture(scope="module")
def pulled() -> bytes:
    return pulled_fmp4(synthetic_clip(default_cache_dir()))


@pytest.fixture(scope="module")
def parsed(pulled: bytes) -> tuple[InitSection, list[Fragment]]:
    out = Fmp4Reader().feed(pulled)
    init, fragments = out[0], out[1:]
    assert isinstance(init, InitSection)
    assert all(isinstance(f, Fragment) for f in fragments)
    return init, fragments  # type: ignore[return-value]


def fed(init: InitSection, fragments: list[Fragment], burst: int = 0,
        **store_args: float | bool) -> StreamStore:
    """A store fed `fragments` as a live pull would: the first `burst` at once, late
    (ffmpeg's probe), the rest each DELAY_S after its media end."""
    store = StreamStore("s", **store_args)
    store.add_init(init)
    late = BASE + fragments[burst].end_s + DELAY_S if burst else 0.0
    for i, f in enumerate(fragments):
        store.add_fragment(f, late if i < burst else BASE + f.end_s + DELAY_S)
    return store


def test_the_init_section_names_a_video_track_with_its_timescale(parsed) -> None:
    init, _ = parsed
    handlers = {t.handler: t for t in init.tracks.values()}
    assert set(handlers) == {"vide", "soun"}
    assert init.timing_track is handlers["vide"]
    assert handlers["vide"].timescale > 0 and handlers["soun"].timescale == 44100
    assert init.data[4:8] == b"ftyp"


def test_fragments_are_a_third_of_a_second_and_a_key_frame_starts_every_gop(parsed) -> None:
    _, fragments = parsed
    durations = [round(f.duration_s, 3) for f in fragments[:-1]]
    assert set(durations) <= {0.333, 0.334}, durations  # ten 30 fps frames each
    keys = [i for i, f in enumerate(fragments) if f.independent]
    assert keys[0] == 0 and set(b - a for a, b in itertools.pairwise(keys)) == {6}
    for a, b in itertools.pairwise(fragments):
        assert b.start_s == pytest.approx(a.end_s, abs=1e-6)  # no gap, no overlap
    # -copyts: the tfdt is the input's own timestamp (the publisher's RTMP ts from nginx)
    assert fragments[0].start_s == pytest.approx(2.023, abs=0.001)


def test_bytes_fed_in_any_pieces_give_the_same_fragments(pulled, parsed) -> None:
    reader = Fmp4Reader()
    out = []
    for pos in range(0, len(pulled), 4093):
        out += reader.feed(pulled[pos:pos + 4093])
    assert [(f.start_s, f.duration_s, f.independent) for f in out[1:]] == [
        (f.start_s, f.duration_s, f.independent) for f in parsed[1]]
    assert reader.state == "header" and out[0].data == parsed[0].data


def test_sync_is_read_from_first_sample_flags_else_from_tfhd_defaults(parsed) -> None:
    init, fragments = parsed
    data = bytearray(fragments[0].data)  # a key frame: trun's first_sample_flags say so
    at = data.index(b"trun") + 4
    flags = int.from_bytes(data[at + 1:at + 4], "big")
    assert flags & 0x4 and flags & 0x1  # first_sample_flags, after the data offset
    first = at + 12
    assert not int.from_bytes(data[first:first + 4], "big") & NON_SYNC
    data[first:first + 4] = (int.from_bytes(data[first:first + 4], "big") | NON_SYNC
                             ).to_bytes(4, "big")
    assert parse_fragment(bytes(data), init).independent is False
    # the others: no flags in trun, tfhd's default_sample_flags (non-sync)
    other = fragments[1].data
    assert not int.from_bytes(other[other.index(b"trun") + 5:][:3], "big") & 0x404
    assert parse_fragment(other, init).independent is False


def test_a_box_that_cannot_be_fmp4_is_an_error() -> None:
    with pytest.raises(Fmp4Error, match="size 4"):
        Fmp4Reader().feed(struct.pack(">I4s", 4, b"moof"))


def test_segments_are_gops_that_start_with_an_independent_part(parsed) -> None:
    store = fed(*parsed)
    done = [s for s in store.segments if s.complete]
    assert len(done) >= 12
    for s in done:
        assert s.duration_s == pytest.approx(2.0, abs=0.002)
        assert s.parts[0].independent and not any(p.independent for p in s.parts[1:])
        assert len(s.parts) == 6
        assert s.data == b"".join(p.fragment.data for p in s.parts) or not s.parts[0].fragment.data
    first = store.segments[0].msn
    assert first > 0  # 28 s of media, a 24 s window
    assert [s.msn for s in store.segments] == list(range(first, first + len(store.segments)))


def test_pdt_is_the_capture_clock_not_the_late_burst(parsed) -> None:
    store = fed(*parsed, burst=8)
    for s in store.segments:
        start = s.parts[0].fragment.start_s
        # the paced anchor (DELAY_S), never the burst's seconds of delay
        assert s.pdt == pytest.approx(BASE + start + DELAY_S, abs=1e-6)


def test_the_window_keeps_enough_segments_and_frees_old_parts(parsed) -> None:
    store = fed(*parsed, window_s=10.0)
    done = [s for s in store.segments if s.complete]
    assert 10.0 <= sum(s.duration_s for s in done) < 12.0 + 0.01
    assert store.segments[0].msn > 0
    listed = store.parts_from()
    assert store.part(listed, 0) is not None
    assert store.part(store.segments[0].msn, 0) is None  # listed no more: let go
    assert store.segments[0].data  # the segment whole still is


def test_the_playlist_has_the_ll_hls_tags_parts_and_a_preload_hint(parsed) -> None:
    init, fragments = parsed
    store = fed(init, fragments[:63])  # ten GOPs and three parts of the next
    text = render(store)
    lines = text.splitlines()
    assert lines[:6] == [
        "#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:2",
        "#EXT-X-PART-INF:PART-TARGET=0.334",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,CAN-SKIP-UNTIL=12.0",
        "#EXT-X-MEDIA-SEQUENCE:0"]
    assert lines[6] == '#EXT-X-MAP:URI="init-0.mp4"'
    pdts = [datetime.fromisoformat(x.split(":", 1)[1]) for x in lines
            if x.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
    assert len(pdts) == len(store.segments)
    steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(pdts)}
    assert steps <= {2.0, 2.001, 1.999}
    parts = [x for x in lines if x.startswith("#EXT-X-PART:")]
    last = store.segments[-1]
    # the parts of the segment in progress and of those within 3 target durations
    assert len(parts) == 6 * (last.msn - store.parts_from()) + len(last.parts)
    assert f'URI="{last.msn}.{len(last.parts) - 1}.m4s"' in parts[-1]
    assert sum("INDEPENDENT=YES" in x for x in parts) == last.msn - store.parts_from() + 1
    assert lines[-1] == f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{last.msn}.{len(last.parts)}.m4s"'
    assert text.count("#EXTINF:2.00") == len(store.segments) - 1
    assert render(store) is text  # one string per version


def test_the_hint_names_the_next_segment_once_the_segment_is_a_gop(parsed) -> None:
    init, fragments = parsed
    store = fed(init, fragments[:12])  # two whole GOPs: the next part opens segment 2
    assert store.next_part() == (2, 0)
    assert store.segments[-1].complete is False and len(store.segments[-1].parts) == 6
    store.add_fragment(fragments[12], BASE + fragments[12].end_s)
    assert store.newest == (2, 0) and store.segments[1].complete


def test_a_delta_update_skips_what_can_skip_until_allows(parsed) -> None:
    store = fed(*parsed)
    full, delta = render(store), render(store, skip=True)
    skipped = int(re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", delta)[1])
    assert skipped >= 1 and "#EXT-X-SKIP" not in full
    assert re.search(r"MEDIA-SEQUENCE:(\d+)", delta)[1] == re.search(
        r"MEDIA-SEQUENCE:(\d+)", full)[1]
    kept = store.segments[skipped:]
    assert sum(s.duration_s for s in kept) >= 12.0  # CAN-SKIP-UNTIL
    assert f"\n{store.segments[skipped - 1].uri}\n" not in delta
    assert f"\n{kept[0].uri}\n" in delta and '#EXT-X-MAP:URI="init-0.mp4"' in delta


def test_a_new_pull_is_a_new_epoch_after_a_discontinuity(parsed) -> None:
    init, fragments = parsed
    store = fed(init, fragments[:14])
    store.add_init(init)
    for f in fragments[:8]:  # the publisher again, its timestamps from the start
        store.add_fragment(f, BASE + 100 + f.end_s)
    text = render(store)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert '#EXT-X-MAP:URI="init-1.mp4"' in text
    new = [s for s in store.segments if s.epoch == 1]
    assert new[0].discontinuity and new[0].pdt == pytest.approx(
        BASE + 100 + fragments[0].start_s, abs=1e-6)


def test_timed_numbering_is_the_media_time_over_the_target_and_never_goes_back(
        parsed) -> None:
    init, fragments = parsed
    late = [f for f in fragments if f.start_s >= 8.0 - 1e-3]  # a rendition pulled later
    early, later = fed(init, fragments, timed_msn=True), fed(init, late, timed_msn=True)
    keys = {s.msn: [p.fragment.start_s for p in s.parts] for s in early.segments}
    for s in later.segments:  # the same media, the same msn.part
        assert keys[s.msn][: len(s.parts)] == [p.fragment.start_s for p in s.parts]
    assert early.segments[-1].msn == round(early.segments[-1].parts[0].fragment.start_s / 2)
    last = early.segments[-1].msn
    early.add_init(init)  # the publisher restarted: its times from the start again
    for f in fragments[:8]:
        early.add_fragment(f, BASE + 100 + f.end_s)
    assert next(s.msn for s in early.segments if s.epoch == 1) == last + 1


def test_reached_is_the_blocking_reload_condition(parsed) -> None:
    init, fragments = parsed
    store = fed(init, fragments[:9])  # segment 0 whole, segment 1 parts 0-2
    assert store.newest == (1, 2) and store.last_complete_msn == 0
    assert store.reached(1, 2) and not store.reached(1, 3)
    assert store.reached(0, None) and not store.reached(1, None)
    assert store.reached(0, 17)  # past segment 0's last part: a later part holds it


@pytest.mark.parametrize(("value", "mode"), [(True, "on"), (False, ""), ("storm", "storm"),
                                             ("", ""), ("on", "on")])
def test_llhls_modes(value, mode) -> None:
    assert llhls_mode(value) == mode


def test_an_unknown_llhls_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="llhls must be one of"):
        llhls_mode("fast")
