# The delegation model moves from the service_requests app to the approvals app; its table stays where
# it is (service_requests_delegation), so only Django's record of the model moves.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('service_requests', '0020_submission_key'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Delegation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('starts_at', models.DateTimeField(verbose_name='starts')),
                        ('ends_at', models.DateTimeField(help_text='The first moment it no longer holds.', verbose_name='ends')),
                        ('reason', models.CharField(max_length=300)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('revoked_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('delegate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='delegations_received', to=settings.AUTH_USER_MODEL)),
                        ('delegator', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='delegations_given', to=settings.AUTH_USER_MODEL)),
                        ('revoked_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'service_requests_delegation',
                        'ordering': ['-starts_at', '-id'],
                        'indexes': [models.Index(fields=['delegate', 'ends_at'], name='delegation_delegate_idx'), models.Index(fields=['delegator', 'ends_at'], name='delegation_delegator_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('ends_at__gt', models.F('starts_at'))), name='delegation_ends_after_it_starts'), models.CheckConstraint(condition=models.Q(('delegate', models.F('delegator')), _negated=True), name='delegation_not_to_oneself')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
