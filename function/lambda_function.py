"""AWS Lambda entry point: ``lambda_function.lambda_handler``.

The configuration is read and checked at cold start, so a misconfigured function fails every
invocation with the reason (and the notifications go to the failure destination) instead of
guessing. The mount is made on the first notification and reused while the environment is warm.
"""

import os
from typing import Any

from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler

handler = Handler(
    Config.from_env(os.environ),
    # Both set by Lambda: the function's name (the metrics' dimension) and application_log_level.
    function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
    log_level=os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
)


def lambda_handler(event: Any, context: Any) -> dict[str, Any] | None:
    return handler(event, context)
