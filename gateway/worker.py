"""Processing a spooled message: claim it with a lease, run the pipeline,
store its outputs as Delivery rows, all idempotent."""

# CONTRACT (to be implemented):
# process(message_id: int) -> None
#   Claims the message (received, or processing with an expired lease) with a
#   lease; builds a pipeline.Context from the spool; runs the pipeline;
#   in one transaction writes each Group as a Delivery (get_or_create by
#   group_key, so a repeated run makes no second row), links Recipient rows,
#   copies the trail into TrailEntry rows, sets state delivering; then rings
#   delivery for each pending Delivery. HoldMessage -> state held.
# sweep(now=None) -> dict
#   Re-rings messages in `received` whose ring is older than a grace period,
#   messages in `processing` whose lease expired, and deliveries due for
#   (re)try; expires leases; returns counts.
