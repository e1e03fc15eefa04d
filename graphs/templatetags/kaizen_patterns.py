"""``{% pattern_templates as templates %}``: the pattern templates, for the graph list page."""

from django import template

from ..pattern_templates import TEMPLATES

register = template.Library()


@register.simple_tag
def pattern_templates():
    return TEMPLATES
