"""Serve a GGUF model over an OpenAI-compatible HTTP API with llama.cpp
(``xllamacpp``), on loopback. Run by the ``llm`` embedded service:

    python -m kisa_tasks.services.llm_entry --model PATH --port 8000 --alias smollm2
"""

from __future__ import annotations

import argparse
import os
import signal
import threading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="smollm2")
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--parallel", type=int, default=2)
    # One core is left to Airflow and the other services the model shares the
    # machine with: llama.cpp splits every operation evenly over its threads
    # and waits for the slowest, so one thread on a busy core slows them all
    # (the backend=llm pipeline test beside a busy core: 420 s with two
    # threads, 117 s with one).
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = parser.parse_args()

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xlc.Server(params)
    print(f"serving {args.alias} at {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
