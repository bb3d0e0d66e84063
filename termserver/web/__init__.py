"""The Danish web pages: server-rendered Jinja2 templates, enhanced with htmx where it helps.

Every page reads the current snapshot, like the JSON and FHIR routes; nothing here writes. The
pages work without JavaScript: htmx only adds as-you-type suggestions and lazy tree loading.
"""
