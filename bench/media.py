"""Media benchmark: what one media process costs per viewer, or whether viewers keep getting
every frame while the stream is recorded (--soak); prints JSON.

    .venv/bin/python bench/media.py                      # `livedrop media` + `livedrop serve`
    .venv/bin/python bench/media.py --mode in-process    # media on serve's own media thread
    .venv/bin/python bench/media.py --viewers 0,1,4 --seconds 5
    .venv/bin/python bench/media.py --soak               # 1, 4 and 9 viewers, 10 runs of 30 s each
    .venv/bin/python bench/media.py --soak --viewers 4 --runs 3 --seconds 10 --chromium 0 --size 640x360

--soak: `livedrop media` and `livedrop serve` with recording on (the default). Each run is a new
show: a publisher (aiortc, here) paints each frame's number and the wall clock into it
(tests.media.peers.ClockTrack), then the run's viewers join at the same moment: aiortc viewers here
and --chromium of them (default 1, when /usr/bin/chromium and playwright are there) as the viewer
page in Debian's Chromium, which reads every presented frame's stamp back. After --seconds the
publisher stops and the recording is decoded. Per run: each viewer's frames against the frames the
source made while it watched (share, the worst second, the longest wait, latency), encoder deaths
(aiortc's "RTCRtpsender(video) Traceback" in the media log) and the server's sender failures, and
the recording's frames against the frames made (missing: numbers absent between its first and
last). A share of 1.0 and no death, run after run, is what "every viewer gets the source's rate"
means.

It starts the processes on loopback (host candidates 127.0.0.1 only) with a temporary data folder,
publishes a 640x360, 15 fps test pattern over WHIP from this process (aiortc), then adds WHEP
viewers (aiortc, also here) step by step. At each step, after a warm-up, it measures over a window:

- media CPU: user+system CPU seconds per wall second of the media process (of `serve` in-process);
- web loop lag: round trips of GET /healthz on the web process every 20 ms, from a process of its
  own (p50/p99/max ms): a request's wait behind whatever else that loop does, which is what
  viewers' WebSockets feel (on a saturated machine it includes waiting for a core);
- frames per second each viewer actually decoded (mean and minimum over viewers).

The bench's own process decodes every viewer's video; on a small machine that competes with the
server for cores, so the figures are an upper bound on the server's cost, not a lower one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.media.peers import (ClockTrack, Publisher, Viewer, Watch, finished_recording,  # noqa: E402
                               recorded_numbers, wait_for_state, watch)
from tests.media.stamp_js import WATCH_FRAMES  # noqa: E402
from tests.support import LivedropProcess, free_port, host_token, livedrop_env  # noqa: E402
from web.media_process import media_key  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]

EMAIL = "bench-media@example.com"


async def count_frames(viewer: Viewer, counter: list[int], stop: asyncio.Event) -> None:
    track = await asyncio.wait_for(viewer.track, 30)
    while not stop.is_set():
        try:
            await asyncio.wait_for(track.recv(), 5)
        except Exception:
            return
        counter[0] += 1


def probe_lag(url: str, seconds: float, out: "mp.Queue[list[float]]") -> None:
    """In a process of its own, so the bench's busy loop (it decodes every viewer) is not measured."""
    samples = []
    with httpx.Client(base_url=url, timeout=10) as http:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            http.get("/healthz")
            samples.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)
    out.put(samples)


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    total = times.user + times.system
    for child in proc.children(recursive=True):
        if "redis" in " ".join(child.cmdline()):  # the embedded redis-server is not media work
            continue
        with_child = child.cpu_times()
        total += with_child.user + with_child.system
    return total


async def measure(args: argparse.Namespace, web: LivedropProcess, media_pid: int, token: str) -> dict:
    media_proc = psutil.Process(media_pid)
    async with httpx.AsyncClient(base_url=web.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        slug = f"bench-{os.getpid()}"
        assert (await http.post("/api/shows", json={"title": "Media bench", "slug": slug})).status_code == 201
        await http.post(f"/api/shows/{slug}/start")
        publisher = Publisher(http, slug, width=640, height=360, fps=15)
        response = await publisher.start({"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        await wait_for_state(publisher.pc, {"connected"}, 30)
        viewers: list[Viewer] = []
        counters: list[list[int]] = []
        stop_all = asyncio.Event()
        readers: list[asyncio.Task[None]] = []
        steps = []
        try:
            for target in [int(n) for n in args.viewers.split(",")]:
                while len(viewers) < target:
                    viewer = Viewer(httpx.AsyncClient(base_url=web.url, timeout=30), slug)
                    answer = await viewer.start()
                    assert answer.status_code == 201, answer.text
                    viewers.append(viewer)
                    counters.append([0])
                    readers.append(asyncio.create_task(count_frames(viewer, counters[-1], stop_all)))
                await asyncio.sleep(args.warmup)
                lag_queue: "mp.Queue[list[float]]" = mp.Queue()
                prober = mp.Process(target=probe_lag, args=(web.url, args.seconds, lag_queue))
                prober.start()
                before_cpu, before_frames, start = cpu_seconds(media_proc), [c[0] for c in counters], time.monotonic()
                await asyncio.sleep(args.seconds)
                elapsed = time.monotonic() - start
                cpu = (cpu_seconds(media_proc) - before_cpu) / elapsed
                fps = [(c[0] - b) / elapsed for c, b in zip(counters, before_frames)]
                lag = sorted(await asyncio.to_thread(lag_queue.get, True, 60))
                await asyncio.to_thread(prober.join, 10)
                steps.append({
                    "viewers": target,
                    "media_cpu_s_per_s": round(cpu, 3),
                    "viewer_fps_mean": round(statistics.mean(fps), 1) if fps else None,
                    "viewer_fps_min": round(min(fps), 1) if fps else None,
                    "web_loop_lag_ms": {
                        "p50": round(lag[len(lag) // 2], 2), "p99": round(lag[int(len(lag) * 0.99)], 2),
                        "max": round(lag[-1], 2), "samples": len(lag),
                    },
                })
                print(json.dumps(steps[-1]), file=sys.stderr, flush=True)
        finally:
            stop_all.set()
            for task in readers:
                task.cancel()
            for viewer in viewers:
                await viewer.close()
                await viewer.http.aclose()
            await http.delete(publisher.location, headers={"Authorization": f"Bearer {token}"})
            await publisher.close()
    return {"steps": steps}


# -- --soak ------------------------------------------------------------------------------------


def steadiness(frames: list[tuple[int, int, int]], sent: dict[int, int]) -> dict:
    """How steadily ``frames`` ((arrival ms, number, painted ms)) followed the source ``sent``
    (a stamp that names no frame the source made, read wrong yet passing its checksum, is dropped)."""
    frames = [f for f in frames if sent.get(f[1]) == f[2]]
    if not frames:
        return {"frames": 0, "share": 0.0}
    first_ms, last_ms = frames[0][2], frames[-1][2]
    made = sum(1 for ms in sent.values() if first_ms <= ms <= last_ms)
    windows = []
    for start in range(first_ms, last_ms - 1000, 1000):
        made_then = sum(1 for ms in sent.values() if start <= ms < start + 1000)
        if made_then:
            windows.append(sum(1 for _, _, ms in frames if start <= ms < start + 1000) / made_then)
    latencies = sorted(arrived - painted for arrived, _, painted in frames)
    gaps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
    return {
        "frames": len(frames),
        "watched_s": round((last_ms - first_ms) / 1000, 1),
        "fps": round(len(frames) / max(0.001, (last_ms - first_ms) / 1000), 1),
        "share": round(len(frames) / max(1, made), 3),
        "worst_second_share": round(min(windows), 2) if windows else None,
        "longest_wait_ms": max(gaps, default=0),
        "latency_ms": {"p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)]},
    }


async def soak_run(args: argparse.Namespace, web_url: str, media: LivedropProcess, token: str, viewers: int,
                   run: int, browser: object | None) -> dict:
    auth = {"Authorization": f"Bearer {token}"}
    key = {"Authorization": f"Bearer {media_key(media.env['SECRET_KEY'])}"}
    recordings = Path(media.env["LIVEDROP_DATA_DIR"]) / "recordings"
    before = set(recordings.glob("show-*/*.webm"))
    log_before = len(media.output())
    width, height = (int(x) for x in args.size.split("x"))
    chromium = min(args.chromium, viewers) if browser is not None else 0
    async with httpx.AsyncClient(base_url=web_url, timeout=30, headers=auth) as http:
        slug = f"soak-{os.getpid()}-{viewers}-{run}"
        assert (await http.post("/api/shows", json={"title": "Media soak", "slug": slug})).status_code == 201
        assert (await http.post(f"/api/shows/{slug}/start")).status_code == 200
        track = ClockTrack(width, height, args.fps)
        publisher = Publisher(http, slug, track=track)
        group = [Viewer(http, slug) for _ in range(viewers - chromium)]
        context = await browser.new_context(base_url=web_url) if chromium else None  # type: ignore[attr-defined]
        try:
            assert (await publisher.start({})).status_code == 201
            await wait_for_state(publisher.pc, {"connected"}, 30)
            await asyncio.sleep(0.5)
            pages = []
            for _ in range(chromium):
                page = await context.new_page()  # type: ignore[union-attr]
                await page.add_init_script(WATCH_FRAMES)
                pages.append(page)
            until = time.monotonic() + args.seconds
            watches = [Watch(0) for _ in group]

            async def join(viewer: Viewer, got: Watch) -> None:
                assert (await viewer.start()).status_code == 201
                await watch(viewer, until, got)

            # together: the aiortc viewers' offers and the pages' navigations at the same moment
            await asyncio.gather(*(join(v, w) for v, w in zip(group, watches)),
                                 *(page.goto(f"/s/{slug}") for page in pages))
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            seen = [await page.evaluate("({frames: window.__frames, first: window.__firstFrameAt})") for page in pages]
            stats = (await http.get(f"{media.url}/internal/stats", headers=key)).json()
            assert publisher.location is not None
            assert (await http.delete(publisher.location)).status_code == 200
        finally:
            for viewer in group:
                await viewer.close()
            await publisher.close()
            if context is not None:
                await context.close()
    sent = {seq: ms for seq, ms in track.sent}
    results = [dict(kind="aiortc", **steadiness(w.frames, sent)) for w in watches]
    for got in seen:
        result = dict(kind="chromium", **steadiness([tuple(f) for f in got["frames"]], sent))  # type: ignore[misc]
        result["first_frame_s"] = round(got["first"] / 1000, 2) if got["first"] is not None else None
        results.append(result)
    numbers: list[int] = []
    if not args.no_record:
        path = await asyncio.to_thread(finished_recording, recordings, before, 60)
        numbers = [n for n in await asyncio.to_thread(recorded_numbers, path) if n is not None]
        path.unlink()
    frames_in = sum(stats["frames"][slug]["in"].values()) if slug in stats["frames"] else None
    log = media.output()[log_before:]
    return {
        "viewers": viewers,
        "run": run,
        "source_fps": round(len(sent) / args.seconds, 1),
        "viewer_results": results,
        "encoder_deaths": log.count("RTCRtpsender(video) Traceback"),
        "sender_failures": stats["sender_failures"],
        "recording": None if args.no_record else {
            "frames": len(numbers),
            "expected": numbers[-1] - numbers[0] + 1 if numbers else len(sent),
            "missing": (numbers[-1] - numbers[0] + 1 - len(set(numbers))) if numbers else len(sent),
            "made_by_publisher": len(sent),
            "server_read_before_stop": frames_in,
            "write_failures_logged": log.count("could not be written"),
        },
        "server_frames": stats["frames"].get(slug),  # read, dropped for slow viewers, recorded so far
        "ice_checked": stats["ice"]["checked"],
    }


async def soak(args: argparse.Namespace, web: LivedropProcess, media: LivedropProcess, token: str) -> dict:
    browser = playwright = None
    if args.chromium and CHROMIUM.exists():
        try:
            from playwright.async_api import async_playwright  # noqa: PLC0415
        except ImportError:
            args.chromium = 0
        else:
            playwright = await async_playwright().start()
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    else:
        args.chromium = 0
    runs = []
    try:
        for viewers in [int(n) for n in args.viewers.split(",")]:
            for run in range(1, args.runs + 1):
                runs.append(await soak_run(args, web.url, media, token, viewers, run, browser))
                print(json.dumps({k: runs[-1][k] for k in ("viewers", "run", "encoder_deaths", "recording")}
                                 | {"shares": [r["share"] for r in runs[-1]["viewer_results"]]}), file=sys.stderr, flush=True)
    finally:
        if browser is not None:
            await browser.close()  # type: ignore[attr-defined]
        if playwright is not None:
            await playwright.stop()
    summary = {}
    for viewers in sorted({r["viewers"] for r in runs}):
        mine = [r for r in runs if r["viewers"] == viewers]
        results = [v for r in mine for v in r["viewer_results"]]
        chromium = [v for v in results if v["kind"] == "chromium"]
        summary[str(viewers)] = {
            "runs": len(mine),
            "viewers_total": len(results),
            "min_share": min(v["share"] for v in results),
            "min_worst_second_share": min((v["worst_second_share"] or 0) for v in results),
            "longest_wait_ms": max(v.get("longest_wait_ms", 0) for v in results),
            "encoder_deaths": sum(r["encoder_deaths"] for r in mine),
            "sender_failures": max(r["sender_failures"] for r in mine),
            "recordings_complete": None if args.no_record else sum(1 for r in mine if r["recording"]["missing"] == 0),
            "recording_frames_written": None if args.no_record else sum(r["recording"]["frames"] for r in mine),
            "recording_frames_expected": None if args.no_record else sum(r["recording"]["expected"] for r in mine),
            "chromium_latency_p50_ms": sorted(v["latency_ms"]["p50"] for v in chromium) if chromium else None,
            "chromium_latency_p99_ms": sorted(v["latency_ms"]["p99"] for v in chromium) if chromium else None,
            "chromium_first_frame_s": sorted(v["first_frame_s"] for v in chromium) if chromium else None,
            "aiortc_latency_p50_ms_median": statistics.median(v["latency_ms"]["p50"] for v in results
                                                              if v["kind"] == "aiortc" and v["frames"]) if any(
                v["kind"] == "aiortc" and v["frames"] for v in results) else None,
        }
    checked: set[str] = set().union(*(r["ice_checked"] for r in runs)) if runs else set()
    return {"summary": summary, "ice_checked_addresses": sorted(checked), "runs": runs}


def main_soak(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="livedrop-bench-soak-") as tmp:
        env = livedrop_env(Path(tmp), LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1",
                           LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1", LIVEDROP_MEDIA_MAX_VIEWERS="1000",
                           LIVEDROP_MEDIA_URL=None, LIVEDROP_RECORDINGS_DIR="off" if args.no_record else None)
        token = host_token(env, EMAIL, "bench media password")
        port = free_port()
        media = LivedropProcess(["media", "--port", str(port)], env, port=port).start()
        web = LivedropProcess(["serve", "--host", "127.0.0.1"], dict(env, LIVEDROP_MEDIA_URL=media.url)).start()
        try:
            result = asyncio.run(soak(args, web, media, token))
        finally:
            web.stop()
            media.stop()
    print(json.dumps({
        "bench": "media-soak",
        "video": f"{args.size} @ {args.fps} fps, clock-stamped, aiortc publisher over WHIP, recording on",
        "cpu_count": os.cpu_count(),
        "seconds_per_run": args.seconds,
        "chromium_viewers_per_run": args.chromium,
        **result,
    }, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["split", "in-process"], default="split")
    parser.add_argument("--viewers", default=None, help="viewer counts (default 0,1,4,8,16; --soak: 1,4,9)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measuring window per step (default 10), or per soak run (default 30)")
    parser.add_argument("--warmup", type=float, default=4.0, help="settling time after viewers join")
    parser.add_argument("--soak", action="store_true", help="viewers joining together while recording, run after run")
    parser.add_argument("--runs", type=int, default=10, help="--soak: runs per viewer count")
    parser.add_argument("--chromium", type=int, default=1, help="--soak: viewers per run that are Chromium pages")
    # 320x180 by default: this process decodes every aiortc viewer and Chromium every page, on the
    # same machine as the server; at 640x360 four viewers on 2 busy cores measured the bench's own
    # decoding (56-66 % of the frames), not the server. The cost per viewer is the other mode's job.
    parser.add_argument("--size", default="320x180", help="--soak: the publisher's picture")
    parser.add_argument("--fps", type=int, default=15, help="--soak: the publisher's frame rate")
    parser.add_argument("--no-record", action="store_true", help="--soak: LIVEDROP_RECORDINGS_DIR=off (to compare)")
    args = parser.parse_args()
    if args.soak:
        args.viewers = args.viewers or "1,4,9"
        args.seconds = args.seconds or 30.0
        main_soak(args)
        return
    args.viewers = args.viewers or "0,1,4,8,16"
    args.seconds = args.seconds or 10.0

    with tempfile.TemporaryDirectory(prefix="livedrop-bench-media-") as tmp:
        env = livedrop_env(Path(tmp), LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1",
                           LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1", LIVEDROP_MEDIA_MAX_VIEWERS="1000",
                           LIVEDROP_MEDIA_URL=None)
        token = host_token(env, EMAIL, "bench media password")
        media = None
        if args.mode == "split":
            port = free_port()
            media = LivedropProcess(["media", "--port", str(port)], env, port=port).start()
            env = dict(env, LIVEDROP_MEDIA_URL=media.url)
        web = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
        try:
            media_pid = media.proc.pid if media else web.proc.pid  # type: ignore[union-attr]
            result = asyncio.run(measure(args, web, media_pid, token))
        finally:
            web.stop()
            if media:
                media.stop()
    steps = result["steps"]
    per_viewer = None
    base = next((s for s in steps if s["viewers"] == 0), None)
    # the slope up to the largest step where every viewer still got (nearly) every frame: past it
    # the machine is out of cores and the CPU figure is a ceiling, not a cost
    keeping_up = [s for s in steps if s["viewers"] and s["viewer_fps_min"] >= 0.9 * 15]
    top = keeping_up[-1] if keeping_up else None
    if base and top and top["viewers"]:
        per_viewer = (top["media_cpu_s_per_s"] - base["media_cpu_s_per_s"]) / top["viewers"]
    print(json.dumps({
        "bench": "media",
        "mode": args.mode,
        "video": "640x360 @ 15 fps test pattern, aiortc publisher and viewers on loopback",
        "cpu_count": os.cpu_count(),
        "window_s": args.seconds,
        "steps": steps,
        "slope_measured_up_to_viewers": top["viewers"] if top else None,
        "media_cpu_per_viewer": round(per_viewer, 4) if per_viewer else None,
        "viewers_per_core": int(1 / per_viewer) if per_viewer else None,
    }, indent=2))


if __name__ == "__main__":
    main()
