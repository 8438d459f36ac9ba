"""Job set-up shared by the pipeline's adapters: logging to a file and a CPU budget.

A job declared with N threads must use N BLAS (and torch) threads and no more, so
that several jobs side by side do not oversubscribe the cores.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys

from threadpoolctl import threadpool_limits


def setup_job(log_path: str | None, threads: int) -> None:
    threads = max(1, int(threads))
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers,
        force=True,
    )
    # An uncaught error must reach the job's log file, not only the terminal.
    def log_uncaught(kind, value, tb):
        logging.getLogger("holstein").critical("job failed", exc_info=(kind, value, tb))

    sys.excepthook = log_uncaught
    # Which package code ran: the workflow's code fingerprints must cover exactly this.
    atexit.register(log_package_modules)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threadpool_limits(threads)  # BLAS libraries already loaded (numpy, scipy)
    # torch is not imported here: about 40 analysis jobs never use it, and its import costs
    # seconds.  A job that imports it later gets the thread count from OMP_NUM_THREADS.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def log_package_modules() -> None:
    package = __name__.partition(".")[0]
    used = sorted(m for m in sys.modules if m == package or m.startswith(package + "."))
    logging.getLogger(__name__).info("package modules used: %s", " ".join(used))
