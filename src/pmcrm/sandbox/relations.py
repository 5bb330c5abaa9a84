"""Which field points at which resource, declared as data.

Every ``*_id`` field of the catalog is either a foreign key here (it names
another resource, or its own: a parent row) or listed in ``NON_RESOURCE_IDS``
(it names something the API has no list endpoint for: users, currencies,
organisations...). A test keeps the two lists complete.

A foreign key is never dangling: generated values and inserted rows pick
existing target ids; deleting rows cascades along ``OWNING_KEYS`` (a child
that cannot live without its parent) and sets every other reference to null,
the way ``ON DELETE CASCADE`` / ``ON DELETE SET NULL`` would.
"""

from __future__ import annotations

from collections.abc import Mapping

FOREIGN_KEYS: Mapping[str, str] = {
    # --- tasks and lists
    "tasks.crm_account_id": "account",
    "tasks.event_calendar_id": "calendar",
    "tasks.model_id": "projects",  # a task lives in a project: model='projects', module='st'
    "tasks.parent_id": "tasks",
    "tasks.prev_task_id": "tasks",
    "tasks.workflow_id": "task_workflows",
    "task_lists.task_id": "tasks",
    "task_lists.list_id": "lists",
    # --- custom fields
    "custom_fields.fieldset_id": "custom_fields_field_sets",
    "custom_fields.parent_id": "custom_fields",
    "custom_fields.cache_parent_id": "custom_fields",
    "custom_fields.group_label_field_id": "custom_fields",
    # --- projects
    "projects.customer_id": "account",
    "projects.customer_crm_contact_id": "account",
    "projects.crm_lead_id": "lead",
    "projects.tasks_workflow_id": "task_workflows",
    "st_projects_users.project_id": "projects",
    "project_observers.project_id": "projects",
    # --- CRM
    "account.merged_to": "account",
    "emails.account_id": "account",
    "lead.customer_id": "account",
    "lead.contact_id": "account",  # contacts are accounts of the person type
    "lead.pipeline_id": "pipeline",
    "lead.closing_status_id": "loss_reason",
    "lead.pricelist_id": "product_price_list",
    "lead.merged_to_id": "lead",
    # --- agile
    "agile_stages.workflow_id": "agile_workflows",
    "agile_epics.project_id": "projects",
    "agile_sprints.project_id": "projects",
    "agile_categories.project_id": "projects",
    "agile_categories.parent_id": "agile_categories",
    "agile_issues.project_id": "projects",
    "agile_issues.sprint_id": "agile_sprints",
    "agile_issues.epic_id": "agile_epics",
    "agile_issues.category_id": "agile_categories",
    "agile_issues.type_id": "agile_issue_type",
    "agile_issues.workflow_stage_id": "agile_stages",
    "agile_issues.parent_issue_id": "agile_issues",
    "agile_issue_relation_types.parent_relation_name_id": "agile_issue_relation_names",
    "agile_issue_relation_types.child_relation_name_id": "agile_issue_relation_names",
    # --- finance
    "invoice.customer_id": "account",
    "invoice.estimate_id": "estimates",
    "invoice.pricelist_id": "product_price_list",
    "invoice.bank_id": "bank_account",
    "invoice.org_account_id": "bank_account",
    "invoice.recurring_invoice_id": "invoice",
    "invoice.model_id": "projects",
    "invoice_items.invoice_id": "invoice",
    "invoice_items.item_id": "product_list",
    "invoice_contacts.invoice_id": "invoice",
    "invoice_contacts.contact_id": "account",  # sent as a string
    "invoice_contacts.email_id": "emails",
    "estimates.customer_id": "account",
    "estimates.pricelist_id": "product_price_list",
    "estimates.model_id": "projects",
    "customer_payment.crm_company_id": "account",
    "customer_payment.project_id": "projects",
    "customer_payment.bank_account_id": "bank_account",
    "transactions.crm_account_id": "account",
    "transactions.invoice_id": "invoice",
    "transactions.project_id": "projects",
    "transactions.org_account_id": "bank_account",
    # --- products
    "product_list.category_id": "product_categories",
    "product_list.manufacturer_id": "product_manufacturer",
    "product_categories.parent_id": "product_categories",
    "product_manufacturer.crm_company_id": "account",
    # --- time tracking
    "timesheet.invoice_id": "invoice",
    "timesheet.model_id": "tasks",  # time is tracked on a task: model='tasks', module='task'
    "timesheet.parent_sheet_id": "timesheet",
}

# Children that cannot exist without their parent: deleting the parent deletes them.
OWNING_KEYS = frozenset({
    "task_lists.task_id",
    "task_lists.list_id",
    "st_projects_users.project_id",
    "project_observers.project_id",
    "emails.account_id",
    "agile_stages.workflow_id",
    "invoice_items.invoice_id",
    "invoice_contacts.invoice_id",
})

# The polymorphic pair (module, model) that goes with a ``model_id`` foreign key.
MODEL_OF_TARGET: Mapping[str, tuple[str, str]] = {
    "projects": ("st", "projects"),
    "tasks": ("task", "tasks"),
}

# ``*_id`` fields that name something without a list endpoint, by field name
# (any resource) or by ``resource.field`` (this resource only): what they name.
NON_RESOURCE_IDS: Mapping[str, str] = {
    "user_id": "user",
    "owner_id": "user",
    "manager_id": "user",
    "assignee_id": "user",
    "creator_id": "user",
    "responsible_id": "user",
    "org_id": "organisation",
    "group_id": "user group",
    "currency_id": "currency",
    "pm_currency_id": "currency",
    "ps_currency_id": "currency",
    "store_doc_currency_id": "currency",
    "bill_from_country_id": "country",
    "bill_to_country_id": "country",
    "ref_id": "id in an external system",
    "reference_id": "polymorphic reference of a transaction",
    "last_activity_id": "activity (no list endpoint)",
    "plan_money_id": "planned payment",
    "template_id": "print / task template",
    "unit_id": "unit of measure",
    "uom_id": "unit of measure",
    "account_category_id": "account category",
    "account_group_id": "bank account group",
    "business_line_id": "business line",
    "briefcase_id": "document briefcase",
    "honorific_title_id": "honorific title",
    "industry_id": "industry",
    "paymethod_id": "payment method",
    "project_checkitem_id": "project checklist item",
    "project_stage_id": "project stage",
    "project_type_id": "project type",
    "pipeline_stage_id": "pipeline stage (no list endpoint)",
    "scope_id": "custom field scope",
    "source_id": "lead source",
    "stage_id": "project stage",
    "status_id": "document status",
    "store_doc_id": "warehouse document",
    "workspace_id": "workspace",
    "invoice.category_id": "finance category",
    "transactions.category_id": "finance category",
    "tasks.workflow_stage_id": "task workflow stage (no list endpoint)",
}


def split_key(key: str) -> tuple[str, str]:
    """``"tasks.project_id"`` -> ``("tasks", "project_id")``."""
    resource, field = key.split(".", 1)
    return resource, field


def names_non_resource(resource: str, field: str) -> bool:
    return f"{resource}.{field}" in NON_RESOURCE_IDS or field in NON_RESOURCE_IDS
