"""Pipeline handlers for tests, put into a gateway subprocess's pipeline
through LOCKPOST_PIPELINE. They do nothing to the message."""

import os
import time
from pathlib import Path


def wait_at_gate(ctx):
    """While the file named by LOCKPOST_TEST_GATE exists, stop here: first
    write `entered-<queue id>` beside it (so the test knows where the message
    is), then wait until the gate file is removed. A test kills the process
    while it waits."""
    gate = Path(os.environ["LOCKPOST_TEST_GATE"])
    if not gate.exists():
        return
    (gate.parent / f"entered-{ctx.queue_id}").write_text(str(os.getpid()))
    while gate.exists():
        time.sleep(0.02)


def pipeline_with_gate(position):
    """The default pipeline with the gate inserted at `position` (0: before
    every handler; len: after all of them), as LOCKPOST_PIPELINE wants it."""
    from django.conf import settings

    steps = list(settings.LOCKPOST_PIPELINE)
    steps.insert(position, "tests.support.pipeline_probes.wait_at_gate")
    return ",".join(steps)
