from django.core.management.base import BaseCommand, CommandError

from portal.audit.services import audit_chain_check


class Command(BaseCommand):
    help = "Verify the hash chain of every audit event; exit non-zero naming the first break."

    def handle(self, *args, **options):
        report = audit_chain_check()
        if not report.ok:
            raise CommandError(str(report))
        self.stdout.write(self.style.SUCCESS(str(report)))
