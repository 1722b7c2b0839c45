"""The process's counters and histograms (Prometheus, through prometheus-client).

Defined once at import, incremented where the thing happens, read by ``/metrics`` (web.routes.metrics).
With ``PROMETHEUS_MULTIPROC_DIR`` set (several processes behind one scrape, as under a process
manager), prometheus-client keeps each value in a memory-mapped file per process and the scrape adds
them up; without it they live in this process's memory.

Hot-path cost (measured here with timeit): a counter increment 0.64 µs, a histogram observation
1.7 µs, against a buy press of 70-100 µs of a core: about 3 %, within bench/drop.py's run-to-run
noise. Labels are looked up once (``answer_counter``), never built per request, and every label
value comes from a small fixed set (an answer is ``held`` or a refusal's code), so the number of
series stays bounded whatever clients send.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buy presses end in a few ms; the tail under a drop reaches hundreds.
HOLD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# A ping to Redis or SELECT 1 on a pooled connection: sub-millisecond on a LAN when all is well.
PROBE_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5)

HOLDS = Counter("livedrop_holds", "Buy presses answered, by answer: held (201), or the refusal's code", ["answer"])
HOLD_SECONDS = Histogram("livedrop_hold_seconds", "Time to answer a buy press, from its head to its answer", buckets=HOLD_BUCKETS)
CHECKOUTS = Counter("livedrop_checkouts", "Checkouts answered, by answer: paid, replayed (the same order again), or the refusal's code",
                    ["answer"])
FRAMES_SENT = Counter("livedrop_frames_sent", "Live frames handed to viewers' connections (one per viewer per frame)")
FRAMES_DROPPED = Counter("livedrop_frames_dropped", "Live frames queued for a viewer and never sent, because its connection closed "
                         "(the viewer resumes with ?after= and gets the lasting ones again)")
SLOW_CLOSES = Counter("livedrop_slow_consumer_closes", "Viewers closed with 1013 for falling behind (they resume)")
DRAIN_CLOSES = Counter("livedrop_drain_closes", "Viewers told to reconnect elsewhere (1012) while this process drained")
REDIS_SECONDS = Histogram("livedrop_redis_seconds", "Round trip of a PING to Redis, probed every 5 s", buckets=PROBE_BUCKETS)
DATABASE_SECONDS = Histogram("livedrop_database_seconds", "Round trip of SELECT 1 on a pooled database connection, probed every 5 s",
                             buckets=PROBE_BUCKETS)


class AnswerCounter:
    """A counter by answer whose children are looked up once each: ``count(code)`` is a dict get
    and an increment. Unknown answers are added as they come (codes are a fixed set)."""

    __slots__ = ("counter", "children")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.children: dict[str, Counter] = {}

    def count(self, answer: str) -> None:
        child = self.children.get(answer)
        if child is None:
            child = self.children[answer] = self.counter.labels(answer)
        child.inc()


HOLD_ANSWERS = AnswerCounter(HOLDS)
CHECKOUT_ANSWERS = AnswerCounter(CHECKOUTS)

# Background jobs (web.jobs): the process holding the job lease runs them. A job's lag is
# time() - livedrop_job_last_success_timestamp_seconds: about its period when healthy.
JOB_LAST_SUCCESS = Gauge("livedrop_job_last_success_timestamp_seconds", "When each background job last finished a run without error",
                         ["job"], multiprocess_mode="max")
JOB_FAILURES = Counter("livedrop_job_failures", "Background job runs that raised (a dependency fault or a bug)", ["job"])
JOB_LEASE = Gauge("livedrop_job_lease_held", "1 while this process holds the job lease and runs the background jobs",
                  multiprocess_mode="max")
