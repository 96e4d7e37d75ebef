"""`manage.py settings`: get, set or unset one setting at the global, domain
or address level, and show every effective value of an address with its origin."""

import argparse

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from gateway.policy import service


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's ordering of options, with the settings list kept as written."""


SETTINGS_EPILOG = "settings:\n" + service.describe_definitions()


def add_level_arguments(parser):
    level = parser.add_mutually_exclusive_group(required=True)
    level.add_argument("--global", dest="at_global", action="store_true", help="The global level.")
    level.add_argument("--domain", metavar="DOMAIN", help="A domain that was added, e.g. example.com or *.example.com.")
    level.add_argument("--address", metavar="ADDRESS", help="One email address (made a user if it is not one yet).")


class Command(BaseCommand):
    help = (
        "Get, set or unset a setting at the global, domain or address level; "
        "show effective values with where each comes from."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(
            prog_name, subcommand, formatter_class=HelpFormatter, epilog=SETTINGS_EPILOG, **kwargs
        )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub = {"formatter_class": HelpFormatter, "epilog": SETTINGS_EPILOG}

        get = actions.add_parser("get", help="Print the value set at one level.", **sub)
        get.add_argument("key", metavar="KEY")
        add_level_arguments(get)

        set_ = actions.add_parser("set", help="Set a value at one level.", **sub)
        set_.add_argument("key", metavar="KEY")
        set_.add_argument("value", metavar="VALUE")
        add_level_arguments(set_)

        unset = actions.add_parser("unset", help="Remove a value from one level so it inherits.", **sub)
        unset.add_argument("key", metavar="KEY")
        add_level_arguments(unset)

        list_ = actions.add_parser("list", help="Print every value set at one level.", **sub)
        add_level_arguments(list_)

        show = actions.add_parser(
            "show", help="Print every effective value of an address or domain with its origin.", **sub
        )
        show.add_argument("name", metavar="ADDRESS_OR_DOMAIN")

    def handle(self, *args, action, **options):
        try:
            if action == "show":
                self.show(options["name"])
                return
            scope = self.scope(options, create=action == "set")
            if action == "get":
                key = options["key"]
                self.stdout.write(service.format_value(service.shown_value(key, service.get_setting(scope, key))))
            elif action == "set":
                value = service.set_setting(scope, options["key"], options["value"])
                shown = service.format_value(service.shown_value(options["key"], value))
                self.stdout.write(f"{options['key']} = {shown} at {scope.label}")
            elif action == "unset":
                if service.unset_setting(scope, options["key"]):
                    self.stdout.write(f"{options['key']} unset at {scope.label}; it inherits now")
                else:
                    self.stdout.write(f"{options['key']} was not set at {scope.label}")
            elif action == "list":
                for key, value in service.own_settings(scope).items():
                    self.stdout.write(f"{key} = {service.format_value(service.shown_value(key, value))}")
        except service.SettingError as error:
            raise CommandError(str(error)) from None

    def scope(self, options, create):
        if options["domain"]:
            return service.domain_scope(options["domain"])
        if options["address"]:
            return service.user_scope(options["address"], create=create)
        return service.GLOBAL

    def show(self, name):
        effective = service.effective_for_name(name)
        rows = [
            (key, service.format_value(service.shown_value(key, e.value)) or "(empty)", e.origin)
            for key, e in sorted(effective.items())
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for key, value, origin in rows:
            self.stdout.write(f"{key:<{widths[0]}}  {value:<{widths[1]}}  {origin}")
