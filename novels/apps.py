from django.apps import AppConfig


class NovelsConfig(AppConfig):
    name = "novels"
    verbose_name = "소설"
