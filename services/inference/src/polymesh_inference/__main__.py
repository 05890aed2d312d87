"""Runs the inference server: ``python -m polymesh_inference``.

Environment: POLYMESH_MODEL_REPOSITORY (required), POLYMESH_LISTEN_ADDR
(default 127.0.0.1:50052), POLYMESH_WORKERS, POLYMESH_MAX_BATCH_SIZE,
POLYMESH_MAX_QUEUE_DELAY, POLYMESH_SHUTDOWN_GRACE_S, POLYMESH_LOG_LEVEL and the
standard OTEL_* variables. Exits 2 on a
configuration error, 0 after a graceful stop on SIGTERM.
"""

from __future__ import annotations

import logging
import sys

from polymesh_common.main import run_service

from .app import InferenceServer
from .errors import RepositoryError
from .settings import Settings, SettingsError

log = logging.getLogger("polymesh_inference")


def main() -> int:
    return run_service(
        "polymesh-inference",
        log,
        load_settings=Settings.from_env,
        settings_errors=(SettingsError,),
        make_server=InferenceServer,
        fatal={RepositoryError: "model repository error: {error}"},
    )


if __name__ == "__main__":
    sys.exit(main())
