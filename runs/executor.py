"""Running many independent jobs: a process pool on this machine, or Ray tasks on a cluster.

Sweeps and studies hand their jobs here as (function, arguments, name); the function must be a
module-level function (it is pickled to the workers). Results come back in job order, so both
engines give identical tables for the same jobs.

- `engine="local"`: a spawn process pool with `workers` processes (1: in this process);
- `engine="ray"`: Ray tasks, on a private local instance with `workers` CPUs or on the cluster at
  `address` ("auto", "HOST:6379", "ray://HOST:10001"), to which this project's packages travel with
  the job (its dependencies must be installed on the nodes).

`keep_going=False` (sweeps) cancels the rest at the first failure; `keep_going=True` (studies) lets
the other jobs finish and reports every failure (finished work is kept for `--resume`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Job:
    fn: Callable
    args: tuple
    name: str
    weight: float = 1.0  # its expected cost relative to the others (e.g. seconds), for the progress line's ETA
    #: asked in this process while the job runs, for the heartbeat line: (units done, units in all, unit) or None
    #: (nothing to say yet); e.g. `runs.study.training_watch`, the episodes a training run's curve has reached
    watch: Callable[[], tuple[int, int, str] | None] | None = None


#: seconds without a finished job after which the progress line says where the running jobs are (local pool)
HEARTBEAT_S = 120.0


class JobsFailed(RuntimeError):
    """Some jobs raised; `failures` lists (job name, message), `results` holds the others (None where failed)."""

    def __init__(self, failures: list[tuple[str, str]], results: list):
        self.failures, self.results = failures, results
        super().__init__(f"{len(failures)} job(s) failed: " + "; ".join(f"{n}: {m}" for n, m in failures))


#: a job that reports taking less than this did no work (a resumed study's job whose outputs were all there) ...
NO_WORK_S = 0.5
#: ... nor one that took less than this share of its expected cost (`Job.weight`, in seconds for the studies): a
#: worker's first resumed job also pays its imports (1.4 s in the P2P paper study resumed at stop 38, whose jobs
#: weigh 100-2,000 s), which made that study's ETA "24.3 s" with an hour of training left
NO_WORK_SHARE = 0.02


def _timed(fn: Callable, *args) -> tuple[Any, float]:
    """fn(*args) and the seconds it took, measured where it runs (a worker process or a Ray task)."""
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


class Progress:
    """One line on stderr per finished job: jobs done / total, elapsed, ETA.

    `run_jobs` plans the jobs first (`plan`): with each job's expected cost (`Job.weight`, e.g. seconds) and the
    workers taking the jobs in order, as the pool does, each job has an expected finish and the whole an expected
    end. The ETA scales that end by how long the finished jobs actually took against their expected finishes, so a
    few long jobs finishing first, or jobs running side by side, do not distort it. A job that reports doing no
    work (under `NO_WORK_S`, or `NO_WORK_SHARE` of its weight: `--resume` found its outputs) costs nothing in the
    plan and says nothing about the pace, so a resumed study's ETA comes from the jobs that train; until one has
    finished it is unknown. Where the weights are seconds (`planned_seconds`: the studies' `expected_job_s`), the ETA
    before the first job finishes is the plan's (a quick arbitrage study's seed-0 jobs run 20-25 minutes; "ETA ?"
    that long said nothing; planned 82 min, it took 78 at stop 64)."""

    def __init__(self, total: int, label: str, enabled: bool = True, planned_seconds: bool = False):
        self.total, self.label, self.enabled, self.planned_seconds = total, label, enabled, planned_seconds
        self.done, self.t0 = 0, time.perf_counter()
        self.weights: list[float] = []
        self.workers = 1
        self.skipped: set[int] = set()  # jobs that did no work
        self.finished_at: dict[int, float] = {}  # job -> elapsed seconds when it finished, jobs that worked
        self.expected_finish: list[float] = []
        self.expected_end = 0.0
        self._watched: dict[str, tuple[float, int]] = {}  # job -> (when, units done) when a heartbeat first saw it

    def plan(self, weights: list[float], workers: int) -> None:
        self.weights, self.workers = list(weights), max(workers, 1)
        self._plan()

    def _plan(self) -> None:
        free = [0.0] * self.workers
        self.expected_finish = []
        for i, w in enumerate(self.weights):
            k = free.index(min(free))  # the next free worker takes the next job
            free[k] += 0.0 if i in self.skipped else w
            self.expected_finish.append(free[k])
        self.expected_end = max(free)

    def update(self, what: str, index: int | None = None, seconds: float | None = None):
        """A job finished: `index` in the plan, `seconds` what it took where it ran (None: not measured)."""
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        if index is not None and index < len(self.weights):
            if seconds is not None and seconds < max(NO_WORK_S, NO_WORK_SHARE * self.weights[index]):
                self.skipped.add(index)
                self._plan()
            else:
                self.finished_at[index] = elapsed
        if not self.enabled:
            return
        print(f"{self.label}: {self.done}/{self.total} done ({what}), {elapsed:.1f} s elapsed, ETA {self._eta(elapsed)}",
              file=sys.stderr, flush=True)

    def _eta(self, elapsed: float) -> str:
        if self.done >= self.total:
            return "0.0 s"  # (the pace of the last jobs no longer says anything about what is left: nothing)
        expected_sum = sum(self.expected_finish[i] for i in self.finished_at)
        if expected_sum > 0:
            actual_sum = sum(self.finished_at.values())
            return f"{max(self.expected_end * actual_sum / expected_sum - elapsed, 0.0):.1f} s"
        if self.skipped:
            return "? (so far only jobs whose outputs were there)"
        if self.done:
            return f"{elapsed / self.done * (self.total - self.done):.1f} s"
        if self.planned_seconds and self.expected_end > 0:
            return f"{max(self.expected_end - elapsed, 0.0):.1f} s as planned (no job finished yet)"
        return "?"

    def heartbeat(self, running: list[tuple[str, tuple[int, int, str]]]) -> None:
        """A line on stderr while no job finishes: where each running job is (`Job.watch`: units done of all,
        their rate since a heartbeat first saw the job and what is left at that rate), then the study's ETA."""
        now = time.perf_counter()
        elapsed = now - self.t0
        parts = []
        for name, (done, total, unit) in running:
            if done >= total:
                parts.append(f"{name} ({unit} {total:,} of {total:,}: trained, evaluating and checking)")
                continue
            text = f"{name} ({unit} {done:,} of {total:,}"
            first = self._watched.setdefault(name, (now, done))  # the rate since this job was first seen running
            if done > first[1]:
                rate = (done - first[1]) / (now - first[0])  # units per second
                text += f", {rate * 60:.3g} per min, {(total - done) / rate / 60:.1f} min left"
            parts.append(text + ")")
        if self.enabled:
            where = "; ".join(parts) if parts else "jobs with no progress to show"
            print(f"{self.label}: {self.done}/{self.total} done, {elapsed:.1f} s elapsed; running: {where}; "
                  f"ETA {self._eta(elapsed)}", file=sys.stderr, flush=True)


def check_engine(engine: str, address: str | None) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}': use one of {list(ENGINES)}")
    if address and engine != "ray":
        raise ValueError("--address is for --engine ray (the address of an existing Ray cluster)")


def run_jobs(jobs: list[Job], engine: str = "local", workers: int | None = None, address: str | None = None,
             progress: Progress | None = None, keep_going: bool = False, on_done: Callable[[int, Any], None] | None = None):
    """Run `jobs`; results in job order. `on_done(i, result)` is called as each job finishes."""
    check_engine(engine, address)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    progress = progress or Progress(len(jobs), "jobs", enabled=False)
    progress.plan([job.weight for job in jobs], workers)
    out: list[Any] = [None] * len(jobs)
    failures: list[tuple[str, str]] = []

    def finished(i: int, timed: tuple[Any, float]) -> None:
        out[i], seconds = timed
        progress.update(jobs[i].name, i, seconds)
        if on_done is not None:
            on_done(i, out[i])

    def failed(i: int, e: BaseException) -> None:
        failures.append((jobs[i].name, f"{type(e).__name__}: {e}"))
        print(f"{progress.label}: {jobs[i].name} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        if not keep_going:
            raise RuntimeError(f"{jobs[i].name} failed: {type(e).__name__}: {e}") from e

    if engine == "ray":
        _run_ray(jobs, workers, address, finished, failed)
    elif workers == 1:
        for i, job in enumerate(jobs):
            try:
                finished(i, _timed(job.fn, *job.args))
            except Exception as e:  # noqa: BLE001 - reported; the other jobs still run when keep_going
                failed(i, e)
    else:
        _run_local(jobs, workers, finished, failed, progress)
    if failures:
        raise JobsFailed(failures, out)
    return out


def _watch(job: Job) -> tuple[int, int, str] | None:
    """`job.watch()`, or None when it has none or cannot say (a heartbeat never stops the jobs)."""
    try:
        return job.watch() if job.watch is not None else None
    except Exception:  # noqa: BLE001 - e.g. a curve being written; the next heartbeat asks again
        return None


def _run_local(jobs, workers, finished, failed, progress: Progress) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from runs.args import ignore_interrupts

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=ignore_interrupts) as pool:
        futures = {pool.submit(_timed, job.fn, *job.args): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED)
                if not done:  # a quiet spell: say where the running jobs that can tell are (the pool may count a
                    # queued job as running; a fresh one has no progress to show)
                    seen = [(jobs[i].name, _watch(jobs[i])) for i in sorted(futures[f] for f in pending if f.running())]
                    progress.heartbeat([(name, w) for name, w in seen if w is not None])
                for f in sorted(done, key=futures.get):
                    i = futures[f]
                    try:
                        result = f.result()
                    except Exception as e:  # noqa: BLE001
                        failed(i, e)
                        continue
                    finished(i, result)
        except BaseException:  # a failure (sweeps), Ctrl-C or SIGTERM: stop the workers now, not after their jobs
            for process in list(getattr(pool, "_processes", {}).values()):  # the executor has no public terminate
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _project_modules() -> list:
    import agents
    import grid
    import model
    import runs

    return [agents, grid, model, runs]


def _run_ray(jobs, workers, address, finished, failed) -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import logging

    import ray

    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address, runtime_env={"py_modules": _project_modules()}, logging_level=logging.WARNING)
    elif started:
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
    try:
        timed = ray.remote(num_cpus=1, max_retries=0)(_timed)
        refs = [timed.remote(job.fn, *job.args) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001
                    try:
                        failed(i, e)
                    except BaseException:
                        for r in pending:
                            ray.cancel(r)
                        raise
                    continue
                finished(i, result)
    finally:
        if started:
            ray.shutdown()
