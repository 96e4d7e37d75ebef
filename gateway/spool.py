"""The spool: stores a received message durably (raw bytes, envelope,
recipients) in one transaction. Nothing is acknowledged before `store` returns."""

# CONTRACT (to be implemented):
# store(mail_from: str, rcpt_tos: list[str], data: bytes, *, client_address="",
#       client_helo="", mta_queue_id="") -> Message
#   One transaction: Message (state received, size, sha256, subject), RawMessage,
#   Recipient rows in RCPT order; MailUser rows created for sender and recipients
#   when first seen. After commit (transaction.on_commit) rings the doorbell
#   (gateway.doorbell.ring(message.pk)). Raises on any storage failure.
