"""The 36 resources of the platform API, declared as data.

One `ResourceSpec` per resource: where it lives, how it pages, how it is written and
what its columns are. Column types are grouped by kind (space-separated names) so the
whole API reads as one table; `pmcrm.schema` turns the kinds into dlt/arrow types.
Fields the API sends that are not declared here (custom fields) are still loaded,
as text columns - see `pmcrm.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["integer", "decimal", "timestamp", "text"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("integer", "decimal", "timestamp", "text")


@dataclass(frozen=True)
class ResourceSpec:
    """One list endpoint of the API and the table it becomes.

    `id_required=False` marks endpoints whose `id` may be null: merging on a nullable
    key would drop or duplicate rows, so they are loaded as full snapshots (`replace`).
    `cursor` names the update timestamp used for incremental sync, where one exists.
    """

    name: str
    path: str
    page_size: int = 100
    id_required: bool = True
    cursor: str | None = None
    integer: str = ""
    decimal: str = ""
    timestamp: str = ""
    text: str = ""

    @property
    def write_disposition(self) -> str:
        return "merge" if self.id_required else "replace"

    @property
    def primary_key(self) -> str | None:
        return "id" if self.id_required else None

    def columns(self) -> dict[str, ColumnKind]:
        """API field name -> column kind, in declaration order."""
        return {
            field: kind for kind in COLUMN_KINDS for field in getattr(self, kind).split()
        }


RESOURCES: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        name="tasks",
        path="/v1/task/tasks/list",
        cursor="updated_date",
        integer=(
            "all_day archive_status closed_by crm_account_id deadline_allowchange "
            "event_access_type event_busy_status event_calendar_id event_sync_type "
            "event_type id is_hidden is_repeat model_id ordering owner_id parent_id "
            "prev_task_id priority project_checkitem_id project_stage_id public_template "
            "responsible_id return_count status_updated_by task_checkbyowner "
            "template_id time_estimate time_spent type updated_by workflow_id "
            "workflow_stage_id"
        ),
        # rating: a score where a fraction can arrive (the catalog says only 'number').
        decimal="cost price rating",
        timestamp=(
            "closed_date created_date deadline first_closed_date plan_end_date "
            "plan_start_date start_date status_firstviewdate status_updated_date "
            "updated_date"
        ),
        text=(
            "cost_type description event_color event_etag event_location extra_fields "
            "is_archive model module name price_type ref ref_id report report_complete "
            "uuid"
        ),
    ),
    ResourceSpec(
        name="custom_fields",
        path="/v1/customfields/fields/list",
        integer=(
            "active api_use_alias cache_parent_id fieldset_id group_id "
            "group_label_field_id hidden_detail id ordering parent_id required scope_id "
            "show_in_mobile show_on_detail_page webhook_use_alias"
        ),
        text="alias cache_value formula hint model module name type",
    ),
    ResourceSpec(
        name="agile_workflows",
        path="/v1/agile/workflows/list",
        cursor="updated_date",
        integer="id",
        timestamp="created_date updated_date",
        text="description name",
    ),
    ResourceSpec(
        name="st_projects_users",
        path="/v1/st/project_observers/list",
        page_size=50,
        id_required=False,
        integer="id project_id role user_id",
    ),
    ResourceSpec(
        name="projects",
        path="/v1/st/projects/list",
        cursor="updated_date",
        integer=(
            "bill_taxes billing_type briefcase_id created_by crm_lead_id "
            "customer_crm_contact_id customer_id default_invoice_split_type_in_project id "
            "is_archive manager_id ordering priority project_type_id stage_id "
            "tasks_workflow_id updated_by use_default_invoice_split_type workspace_id"
        ),
        decimal=(
            "default_billing_rate default_employee_cost_rate estimated_expenses "
            "estimated_revenue"
        ),
        timestamp="archive_date created_date enddate startdate updated_date",
        text=(
            "archive_description default_bill_time_type default_invoice_item_format "
            "default_only_completed_task default_time_cost_type description extra_fields "
            "name ref ref_id uuid"
        ),
    ),
    ResourceSpec(
        name="account",
        path="/v1/crm/account/list",
        cursor="updated_date",
        integer=(
            "account_category_id active honorific_title_id id industry_id "
            "last_activity_id merged_to organization_employee_count owner_id ref_id type"
        ),
        decimal="organization_expenses organization_revenue",
        timestamp="created_date last_activity_time organization_registration_date updated_date",
        text=(
            "VAT VAT1 VAT2 address address_legal bank_details billing_address_line_1 "
            "billing_address_line_2 billing_address_line_3 billing_city billing_country "
            "billing_state billing_zip description email email_personal extra_fields "
            "first_name guid_1c last_activity_model last_name link_facebook link_google "
            "link_instagram link_linkedin link_vk middle_name name name_legal "
            "name_legal_full phone phone2 phone3 ref shipping_address_line_1 "
            "shipping_address_line_2 shipping_address_line_3 shipping_city "
            "shipping_country shipping_state shipping_zip skype telegram timezone web"
        ),
    ),
    ResourceSpec(
        name="agile_epics",
        path="/v1/agile/epics/list",
        cursor="updated_date",
        integer="created_by id is_completed ordering project_id updated_by",
        timestamp="created_date end_date start_date updated_date",
        text="description name",
    ),
    ResourceSpec(
        name="loss_reason",
        path="/v1/crm/loss_reason/list",
        integer="active id ordering",
        text="name",
    ),
    ResourceSpec(
        name="pipeline",
        path="/v1/crm/pipeline/list",
        id_required=False,
        integer="id ordering",
        text="description name type_access",
    ),
    ResourceSpec(
        name="lead",
        path="/v1/crm/lead/list",
        cursor="updated_date",
        integer=(
            "active assignee_id closing_status_id contact_id created_by customer_id id "
            "last_activity_id merged_to_id ordering pipeline_id pipeline_stage_id "
            "pricelist_id ref_id source_id"
        ),
        decimal="adjustment budget shipping_charge",
        timestamp=(
            "closing_date created_date deadline last_activity_time start_date "
            "updated_date"
        ),
        text=(
            "adjustment_description auto_calc cf_1 cf_2 cf_2_value closing_comment "
            "contact_company contact_email contact_mobile contact_name contact_phone "
            "contact_position contact_web description last_activity_model name ref"
        ),
    ),
    ResourceSpec(
        name="emails",
        path="/v1/crm/emails/list",
        page_size=50,
        integer="account_id id type",
        text="comment email",
    ),
    ResourceSpec(
        name="invoice",
        path="/v1/fin/invoice/list",
        cursor="updated_date",
        integer=(
            "assignee_id bank_id bill_from_country_id bill_to_country_id category_id "
            "created_by currency_id customer_id discount_before_tax estimate_id "
            "exported_1c group_id id invoice_number is_discount_percent "
            "is_invoice_emailed is_reminder_sent is_template model_id org_account_id "
            "org_id paymethod_id plan_money_id pm_currency_id pricelist_id ps_currency_id "
            "recurring_invoice_id show_add_sign_string status_id tax1_included "
            "tax2_included template_id type updated_by use_multiple_pm"
        ),
        decimal=(
            "adjustment bcy_paid_total discount plan_money_total pscy_paid_total "
            "shipping_charge sub_total tax1 tax2 tax_total total"
        ),
        timestamp=(
            "created_date due_date invoice_date invoice_emailed_date paid_date "
            "reminders_sent_date updated_date"
        ),
        text=(
            "adjustment_description bank bill_from_address bill_from_city bill_from_state "
            "bill_from_zip bill_to_address bill_to_city bill_to_state bill_to_zip "
            "company_phone company_phone2 company_vat company_vat2 contact_person "
            "contact_person2 contact_person2_position contact_person_position "
            "currency_code customer_legal_name customer_name invoice_footer_text "
            "invoice_number_print invoice_terms_text model module note org_phone "
            "org_phone2 org_vat org_vat2 payment_options ref ref_id reference "
            "template_name uuid"
        ),
    ),
    ResourceSpec(
        name="customer_payment",
        path="/v1/fin/customer_payment/list",
        cursor="updated_date",
        integer=(
            "bank_account_id created_by crm_company_id currency_id id is_complete "
            "is_manual is_owed need_approve ordering org_id owner_id project_id "
            "project_stage_id status status_pls type updated_by"
        ),
        decimal="charge total",
        timestamp="complete_date created_date date enddate startdate updated_date",
        text="description name ref ref_id ref_uuid reference uuid",
    ),
    ResourceSpec(
        name="bank_account",
        path="/v1/fin/bank_account/list",
        integer=(
            "account_group_id active currency_id id manager_id ordering ordering_by_group "
            "org_id type"
        ),
        decimal=(
            "bcy_balance currency_exchange_rate excluded_balance fixed_balance "
            "pls_bcy_balance pls_fixed_balance"
        ),
        timestamp="closed_at fixed_balance_date pls_fixed_balance_date",
        text="name ref ref_id",
    ),
    ResourceSpec(
        name="agile_stages",
        path="/v1/agile/stages/list",
        cursor="updated_date",
        integer="id ordering status workflow_id",
        timestamp="created_date updated_date",
        text="color description name",
    ),
    ResourceSpec(
        name="agile_sprints",
        path="/v1/agile/sprints/list",
        cursor="updated_date",
        integer="active id project_id started",
        timestamp="created_date deadline start_date updated_date",
        text="changelog description name standup_time",
    ),
    ResourceSpec(
        name="agile_issues",
        path="/v1/agile/issues/list",
        cursor="updated_date",
        integer=(
            "assignee_id category_id creator_id epic_id id is_archived number ordering "
            "parent_issue_id priority project_id sprint_id type_id workflow_stage_id"
        ),
        decimal="effort estimate",
        timestamp="archived_date completed_date created_date updated_date",
        text="description name number_label ref ref_id value",
    ),
    ResourceSpec(
        name="task_lists",
        path="/v1/task/taskslists/list",
        cursor="updated_date",
        integer="created_by id list_id task_id updated_by",
        timestamp="created_date updated_date",
    ),
    ResourceSpec(
        name="lists",
        path="/v1/task/lists/list",
        cursor="updated_date",
        integer="active created_by id ordering updated_by user_id",
        timestamp="created_date updated_date",
        text="color icon name",
    ),
    ResourceSpec(
        name="calendar",
        path="/v1/calendar/calendar/list",
        cursor="updated_date",
        integer="created_by id sync_type type updated_by",
        timestamp="created_date updated_date",
        text="color description etag name timezone uuid",
    ),
    ResourceSpec(
        name="agile_issue_relation_types",
        path="/v1/agile/issue_relation_types/list",
        cursor="updated_date",
        integer="child_relation_name_id id parent_relation_name_id",
        timestamp="created_date updated_date",
        text="name",
    ),
    ResourceSpec(
        name="agile_issue_relation_names",
        path="/v1/agile/issue_relation_names/list",
        cursor="updated_date",
        integer="id tree_type",
        timestamp="created_date updated_date",
        text="name",
    ),
    ResourceSpec(
        name="agile_issue_type",
        path="/v1/agile/issue_type/list",
        cursor="updated_date",
        integer="id is_default ordering type",
        timestamp="created_date updated_date",
        text="color description icon name",
    ),
    ResourceSpec(
        name="agile_categories",
        path="/v1/agile/categories/list",
        cursor="updated_date",
        integer="assignee_id id ordering parent_id project_id",
        timestamp="created_date updated_date",
        text="color description name",
    ),
    ResourceSpec(
        name="custom_fields_field_sets",
        path="/v1/customfields/fieldsets/list",
        integer="group_id id",
        text="group_field model module name",
    ),
    ResourceSpec(
        name="product_list",
        path="/v1/products/product/list",
        cursor="updated",
        integer=(
            "active category_id created_by id manufacturer_id online_payment_subject_type "
            "online_payment_type online_payment_vat tax_included taxable type unit_id "
            "uom_id updated_by"
        ),
        decimal="tax",
        timestamp="created updated",
        text=(
            "article code code_ean code_isbn code_mpn code_upc description "
            "full_description name pricelist_currency_1 pricelist_price_1 ref ref_id "
            "tax_desc"
        ),
    ),
    ResourceSpec(
        name="product_categories",
        path="/v1/products/category/list",
        cursor="updated",
        integer="active created_by id parent_id updated_by",
        timestamp="created updated",
        text="description name ref ref_id",
    ),
    ResourceSpec(
        name="product_price_list",
        path="/v1/products/pricelist/list",
        cursor="updated",
        integer="active created_by default id ordering type updated_by",
        timestamp="created updated",
        text="description name ref ref_id",
    ),
    ResourceSpec(
        name="product_manufacturer",
        path="/v1/products/manufacturer/list",
        cursor="updated",
        integer="active created_by crm_company_id currency_id id updated_by",
        timestamp="created updated",
        text="description name ref ref_id",
    ),
    ResourceSpec(
        name="timesheet",
        path="/v1/timetracker/timesheets/list",
        cursor="updated_date",
        integer=(
            "aggregated_time_estimate bill_time bill_time_estimate billing_status "
            "created_by currency_id id invoice_id is_billable is_billable_employee "
            "model_id parent_sheet_id time_estimate time_spent unbill_time "
            "unbill_time_estimate updated_by"
        ),
        decimal=(
            "amount_timeestimate amount_timespent bill_amount_timeestimate "
            "bill_amount_timespent bill_cost_timeestimate bill_cost_timespent "
            "billing_rate employee_cost_rate rate"
        ),
        timestamp="created_date updated_date",
        text="bill_time_type cost_time_type description model module",
    ),
    ResourceSpec(
        name="estimates",
        path="/v1/fin/estimate/list",
        cursor="updated_date",
        integer=(
            "active assignee_id bill_from_country_id bill_to_country_id created_by "
            "currency_id customer_id discount_before_tax estimate_number group_id id "
            "is_discount_percent model_id org_id pricelist_id status_id tax1_included "
            "tax2_included template_id type updated_by"
        ),
        decimal=(
            "adjustment discount exchange_rate shipping_charge sub_total tax1 tax2 "
            "tax_total total"
        ),
        timestamp="estimate_emailed_date expire_date invoice_date updated_date",
        text=(
            "adjustment_description bill_from_address bill_from_city bill_from_state "
            "bill_from_zip bill_to_address bill_to_city bill_to_state bill_to_zip "
            "company_phone company_phone2 company_vat company_vat2 contact_person "
            "contact_person_position currency_code customer_legal_name customer_name "
            "estimate_footer_text estimate_number_print estimate_terms_text model module "
            "org_phone org_phone2 org_vat org_vat2 ref ref_id reference_number uuid"
        ),
    ),
    ResourceSpec(
        name="transactions",
        path="/v1/fin/transaction/list",
        cursor="updated_date",
        integer=(
            "business_line_id category_id created_by crm_account_id currency_id id "
            "invoice_id is_charge is_generated is_storno manager_id ordering "
            "org_account_id org_id plan_money_id pm_currency_id project_id ref_id "
            "reference_id status store_doc_currency_id store_doc_id type updated_by"
        ),
        decimal=(
            "bcy_charge bcy_income bcy_outcome charge currency_exchange_rate income "
            "outcome plan_money_total store_doc_total"
        ),
        timestamp="created_date date updated_date",
        text="description name ref ref_uuid reference uuid",
    ),
    ResourceSpec(
        name="invoice_items",
        path="/v1/fin/invoice_item/list",
        integer=(
            "discount_is_percent id invoice_id item_id online_payment_subject_type "
            "online_payment_type online_payment_vat ordering plan_money_id tax1_included "
            "tax2_included type unit_id"
        ),
        decimal=(
            "bcy_paid_total discount_amount paid_total plan_money_total quantity "
            "sub_total tax1 tax1_amount tax2 tax2_amount tax_total total unit_price"
        ),
        timestamp="paid_date",
        text="description discount name ref ref_id tax_displayed",
    ),
    ResourceSpec(
        name="invoice_contacts",
        path="/v1/fin/invoice_contacts/list",
        integer="email_id id invoice_emailed invoice_id is_primary reminders_sent",
        timestamp="invoice_emailed_date reminders_sent_date",
        text="contact_id",
    ),
    ResourceSpec(
        name="project_observers",
        path="/v1/st/project_observers/list",
        integer="id project_id role user_id",
    ),
    ResourceSpec(
        name="task_workflows",
        path="/v1/task/workflows/list",
        cursor="updated_date",
        integer="active created_by id ordering updated_by",
        timestamp="updated_date",
        text="description name",
    ),
)

RESOURCES_BY_NAME: dict[str, ResourceSpec] = {spec.name: spec for spec in RESOURCES}
