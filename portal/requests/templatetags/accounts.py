"""The company's cloud accounts, offered by name where a form asks for an account id."""

from django import template
from django.utils.html import format_html, format_html_join

from portal.teams.models import CloudAccount

register = template.Library()


@register.simple_tag
def company_accounts():
    """`<datalist id="company-accounts">`: each account as "name (uid)", which the form takes."""
    options = format_html_join(
        "",
        '<option value="{} ({})"></option>',
        CloudAccount.objects.order_by("name").values_list("name", "uid"),
    )
    return format_html('<datalist id="company-accounts">{}</datalist>', options)
