"""Embedded services the platform starts, checks and stops itself."""

from kisa_tasks.services.manager import ServiceManager, ServiceStatus
from kisa_tasks.services.process import ServiceError

__all__ = ["ServiceError", "ServiceManager", "ServiceStatus"]
