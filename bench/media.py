"""Media benchmark: what one media process costs per viewer; prints JSON.

    .venv/bin/python bench/media.py                      # `livedrop media` + `livedrop serve`
    .venv/bin/python bench/media.py --mode in-process    # media on serve's own media thread
    .venv/bin/python bench/media.py --viewers 0,1,4 --seconds 5

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

from tests.media.peers import Publisher, Viewer, wait_for_state  # noqa: E402
from tests.support import LivedropProcess, free_port, host_token, livedrop_env  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["split", "in-process"], default="split")
    parser.add_argument("--viewers", default="0,1,4,8,16")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="settling time after viewers join")
    args = parser.parse_args()

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
