from django.core.management.base import BaseCommand

from portal.audit.services import audit_checkpoint_write


class Command(BaseCommand):
    help = "Append the audit chain's head to the checkpoint file (AUDIT_CHECKPOINT_FILE)."

    def add_arguments(self, parser):
        parser.add_argument("--file", help="another checkpoint file than the configured one")

    def handle(self, *args, **options):
        line = audit_checkpoint_write(options["file"])
        if line is None:
            self.stdout.write("the chain has not moved since the last checkpoint")
        else:
            self.stdout.write(self.style.SUCCESS(f"checkpoint at #{line['seq']} {line['hash']}"))
