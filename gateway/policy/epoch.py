"""The policy epoch: moved on in the same transaction as every change to
what gateway.policy.cache keeps in memory (settings, domains, users' levels,
and the DLP rules and exemptions).

Saves and deletes are caught by signals. Queryset `.update()` and the bulk
operations send none: code that uses them on these models calls `bump()`.
Creating a bare MailUser (every stored message does, for its addresses)
changes no one's settings, so it does not bump."""

from django.db.models.signals import post_delete, post_save

from gateway.models import ConfigEpoch, Domain, MailUser, Setting

POLICY = ConfigEpoch.POLICY


def bump(using="default"):
    """Every process drops what it cached once this commits."""
    ConfigEpoch.bump(POLICY, using=using)


def current(using="default"):
    """The epoch now, as (value, stamp): one small query."""
    return ConfigEpoch.read(POLICY, using=using)


def changed(sender, using="default", **kwargs):
    """Receiver for any save or delete that changes the policy."""
    bump(using=using)


def user_saved(sender, created, using="default", **kwargs):
    # A new user has no settings, rules or exemptions yet: nothing changes.
    if not created:
        bump(using=using)


def connect(model, on_save=changed):
    """Bump on every save and delete of `model`."""
    uid = f"policy-epoch-{model._meta.label_lower}"
    post_save.connect(on_save, sender=model, dispatch_uid=uid)
    post_delete.connect(changed, sender=model, dispatch_uid=uid)


def connect_models():
    """Called once the apps are loaded (gateway.apps): gateway may import dlp,
    not the other way round, so the DLP models are connected from here."""
    from dlp.models import Exemption, Rule

    connect(Setting)
    connect(Domain)
    connect(MailUser, on_save=user_saved)
    connect(Rule)
    connect(Exemption)
