"""Deploy stage: the environment's AWS stack.

- ``package``: the reproducible Lambda zip (the runtime and its pure-Python dependencies).
- ``policy``: the scheduler role's IAM permissions, derived from the manifest's tasks.
- ``settings``: the env file's ``deploy:`` keys.
- ``template``: the CloudFormation template (pure data).
- ``stack``: deploy (change set, confirm, wait) and destroy.
- ``observe``: status, logs, and ``invoke_remote_run`` for ``run --remote``.

Nothing here is imported by ``lambdacron.runtime``: the Lambda never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdacron.project import Environment


def invoke_remote_run(env: Environment, task: str) -> dict[str, Any]:
    """Fire ``task`` now in the env's deployed scheduler; the handler's run summary
    (``{"env", "manifest_version", "minutes", "outcomes", "counts"}``, plus ``"error"`` for an
    unknown task). StoreError (exit 3) when the function is missing or fails."""
    from lambdacron.deploy.observe import invoke_remote_run as invoke

    return invoke(env, task)
