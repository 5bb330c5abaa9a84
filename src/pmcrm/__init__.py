"""pmcrm: sync a project-management + CRM platform's 36 resources into any dlt destination."""

from pmcrm.declarations import RESOURCES, ResourceSpec
from pmcrm.source import pmcrm_source

__all__ = ["RESOURCES", "ResourceSpec", "pmcrm_source"]
