from django.apps import AppConfig


class ManagementConfig(AppConfig):
    name = "management"
    verbose_name = "모델 운영"
