from django.apps import AppConfig


class GatewayConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gateway"

    def ready(self):
        from dlp.signals import quarantine_released

        quarantine_released.connect(requeue_released, dispatch_uid="gateway-requeue-released")
        # Changes to settings, domains and users move the policy epoch on,
        # so every process's cached policy is dropped (gateway.policy.cache).
        from gateway.policy import epoch

        epoch.connect_models()


def requeue_released(sender, message_id, by, **kwargs):
    """A message released from the DLP quarantine goes on through the pipeline."""
    from gateway.worker import requeue

    requeue(message_id, by=f"{by} (released from the DLP quarantine)")
