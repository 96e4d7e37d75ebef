"""`manage.py certificates`: import certificate files, list what selection
would choose for an address and why, issue and revoke with our CA."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ca import authority, formats, selection, store
from ca.models import Certificate


class Command(BaseCommand):
    help = "Import certificates (PEM, DER, P7B, PKCS#12), show selection for an address, run the built-in CA."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        imp = actions.add_parser("import", help="Import certificate files; keys from PKCS#12 are kept encrypted.")
        imp.add_argument("paths", nargs="+", metavar="PATH")
        imp.add_argument("--password", default="", help="Password of PKCS#12 files (or a PEM private key).")
        imp.add_argument("--trust-anchor", action="store_true", help="Trust the imported root certificates.")
        imp.add_argument("--source", default="imported", choices=[s.value for s in Certificate.Source])
        imp.add_argument("--no-progress", action="store_true", help="No progress bar.")
        show = actions.add_parser(
            "list", help="What selection chooses for ADDRESS, and why each other candidate is not."
        )
        show.add_argument("address", metavar="ADDRESS")
        root = actions.add_parser("create-ca", help="Create our root CA (and optionally an intermediate under it).")
        root.add_argument("name")
        root.add_argument("--key-type", default="rsa3072", choices=authority.KEY_TYPES)
        root.add_argument("--intermediate", metavar="NAME", help="Also create an intermediate that issues users.")
        root.add_argument("--in-token", action="store_true", help="Make the CA keys inside the PKCS#11 token.")
        issue = actions.add_parser("issue", help="Issue an S/MIME certificate for ADDRESS with our CA.")
        issue.add_argument("address", metavar="ADDRESS")
        issue.add_argument("--name", default="", help="Common name (default: the address).")
        issue.add_argument("--key-type", default="rsa3072", choices=authority.KEY_TYPES)
        issue.add_argument("--in-token", action="store_true", help="Make the user's key inside the PKCS#11 token.")
        revoke = actions.add_parser("revoke", help="Revoke a certificate our CA issued, by SHA-256 thumbprint.")
        revoke.add_argument("sha256")
        revoke.add_argument("--reason", default="unspecified", choices=sorted(authority.REASONS))

    def handle(self, *args, action, **options):
        try:
            getattr(self, "do_" + action.replace("-", "_"))(**options)
        except (ValueError, formats.UnreadableFile) as error:
            raise CommandError(str(error)) from None

    def do_import(self, paths, password, trust_anchor, source, no_progress, **_):
        files = [Path(p) for p in paths]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        imported = keys = 0
        for path in tqdm(files, unit="file", disable=no_progress or len(files) < 2):
            try:
                bundle = formats.read_bundle(path.read_bytes(), password)
            except formats.UnreadableFile as error:
                raise CommandError(f"{path}: {error}") from None
            certs = store.import_bundle(bundle, source)
            if trust_anchor:
                for cert in certs:
                    if cert.is_ca and cert.subject == cert.issuer:
                        store.add_certificate(bytes(cert.der), trust_anchor=True)
            imported += len(certs)
            keys += len(bundle.keyed)
        self.stdout.write(f"imported {imported} certificate(s) and {keys} private key(s) from {len(files)} file(s)")

    def do_list(self, address, **_):
        for purpose, result in (
            ("encrypt to", selection.encryption_certificates(address)),
            ("sign as", selection.signing_identity(address)),
        ):
            chosen = result.chosen[0].subject if result.chosen else "nothing usable"
            self.stdout.write(f"{purpose} {address}: {chosen}")
            for line in result.explain():
                self.stdout.write(f"  {line}")

    def do_create_ca(self, name, key_type, intermediate, in_token, **_):
        root = authority.create_root(name, key_type, in_token=in_token)
        self.stdout.write(f"created root CA {root.name} ({root.certificate.sha256})")
        if intermediate:
            sub = authority.create_intermediate(root, intermediate, key_type, in_token=in_token)
            self.stdout.write(f"created intermediate CA {sub.name} ({sub.certificate.sha256})")

    def do_issue(self, address, name, key_type, in_token, **_):
        cert = authority.issue(address, name, key_type, in_token=in_token)
        self.stdout.write(f"issued {cert.subject} ({cert.sha256}), valid until {cert.not_after:%Y-%m-%d}")
        for note in cert.issue_notes:
            self.stdout.write(note)

    def do_revoke(self, sha256, reason, **_):
        cert = Certificate.objects.filter(sha256=sha256.lower().replace(":", "")).first()
        if cert is None:
            raise CommandError(f"no certificate with thumbprint {sha256}")
        authority.revoke(cert, reason)
        self.stdout.write(f"revoked {cert.subject} ({reason})")
