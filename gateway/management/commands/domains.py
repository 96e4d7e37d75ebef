"""`manage.py domains`: add, remove and list the mail domains Lockpost knows."""

from django.core.management.base import BaseCommand, CommandError

from gateway.models import Domain
from gateway.policy import service


class Command(BaseCommand):
    help = "Add, remove or list domains. Internal domains are the organisation's own: their mail is outgoing."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser(
            "add", help="Add a domain, or change whether it is internal (example.com, *.example.com)."
        )
        add.add_argument("name", metavar="NAME")
        add.add_argument("--internal", action="store_true", help="The domain is the organisation's own.")
        remove = actions.add_parser("remove", help="Remove a domain and its settings.")
        remove.add_argument("name", metavar="NAME")
        actions.add_parser("list", help="List domains, internal ones marked.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, action)(**options)
        except service.SettingError as error:
            raise CommandError(str(error)) from None

    def add(self, name, internal, **_):
        domain, created = Domain.objects.update_or_create(
            name=service.clean_domain_name(name), defaults={"internal": internal}
        )
        kind = "internal" if domain.internal else "external"
        self.stdout.write(f"{'added' if created else 'updated'} {kind} domain {domain.name}")

    def remove(self, name, **_):
        deleted, _ = Domain.objects.filter(name=service.clean_domain_name(name)).delete()
        if not deleted:
            raise CommandError(f"no domain {name!r}")
        self.stdout.write(f"removed domain {service.clean_domain_name(name)}")

    def list(self, **_):
        for domain in Domain.objects.all():
            self.stdout.write(f"{domain.name}\t{'internal' if domain.internal else 'external'}")
