"""Realistic column values, chosen from a field's name.

``RULES`` is the declaration: the first rule whose pattern matches a field's
name (and whose JSON type fits, when it names one) decides the kind of value
and how often the field is null. Columns are generated whole, one list per
field, from a ``random.Random`` of their own, so that one field's values never
depend on another's and 20,000 rows take milliseconds.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import Random

from .relations import NON_RESOURCE_IDS

DATA_START = 1546300800  # 2019-01-01 00:00:00 UTC: the first row's creation
DATA_END = 1719792000  # 2024-07-01 00:00:00 UTC: every generated update is before it
DAY = 86400
ZERO_DATE = "0000-00-00 00:00:00"


class _DayCache(dict):
    """'YYYY-MM-DD ' by days since the epoch, made on first use."""

    def __missing__(self, days: int) -> str:
        text = self[days] = time.strftime("%Y-%m-%d ", time.gmtime(days * DAY))
        return text


@functools.cache
def _clock_times() -> tuple[str, ...]:
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY))


_DAYS = _DayCache()


def format_timestamp(epoch: int) -> str:
    """'YYYY-MM-DD HH:MM:SS' in UTC, from cached days and clock times (strftime is slow)."""
    return _DAYS[epoch // DAY] + _clock_times()[epoch % DAY]


def format_timestamps(epochs: Sequence[int]) -> list[str]:
    days, clock = _DAYS, _clock_times()
    return [days[e // DAY] + clock[e % DAY] for e in epochs]


def parse_timestamp(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


@dataclass
class ColumnContext:
    """What a column generator may look at: the rows' ids and creation times, and
    ``shared_rng(group)`` for columns that must agree row by row (city, state, zip...).
    ``pending_is_null``: an event that would fall after the data's end has not happened
    yet (null), instead of happening at the last moment (the "account" shape)."""

    rng: Random
    ids: Sequence[int | None]
    created: Sequence[int]
    theme: str
    field: str
    shared_rng: Callable[[str], Random] = lambda group: Random(group)
    pending_is_null: bool = False

    @property
    def n(self) -> int:
        return len(self.ids)


Generator = Callable[[ColumnContext], list]


# --------------------------------------------------------------------- pools
FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hugo", "Irene", "Jonas",
    "Kate", "Liam", "Maria", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tina",
    "Umar", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Ivan", "Lena", "Marco", "Nina",
)
LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson",
    "Thomas", "Moore", "Jackson", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright",
    "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Petrov", "Schmidt", "Rossi", "Novak",
)
MIDDLE_NAMES = ("A.", "B.", "J.", "M.", "R.", "S.", "Lee", "Marie", "Ann")
COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Oscorp", "Gringotts", "Northwind", "Contoso",
    "Fabrikam", "Blue Harbor", "Red Pine", "Silver Oak", "Bright Path", "Green Field", "Iron Gate",
)
COMPANY_KINDS = ("Logistics", "Consulting", "Software", "Foods", "Media", "Labs", "Energy", "Retail",
                 "Design", "Capital", "Health", "Systems", "Motors", "Studio", "Partners")
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd.", "GmbH", "Corp.", "Group", "S.A.", "AG")
DOMAINS = ("example.com", "mail.test", "acme.test", "corp.example", "inbox.test", "company.test")
JOB_TITLES = ("CEO", "CFO", "Head of Sales", "Account Manager", "Project Manager", "Accountant",
              "Procurement Lead", "Office Manager", "CTO", "Marketing Director", "Engineer")
STREETS = ("Main St", "Oak Ave", "Maple Rd", "Cedar Ln", "Park Blvd", "Lake Dr", "Hill St",
           "Elm St", "River Rd", "Station Sq", "Market St", "Mill Ln")
PLACES = (  # city, state, country, zip format
    ("Springfield", "IL", "United States", "62{:03d}"), ("Austin", "TX", "United States", "73{:03d}"),
    ("Seattle", "WA", "United States", "98{:03d}"), ("Boston", "MA", "United States", "02{:03d}"),
    ("Toronto", "ON", "Canada", "M5V {:03d}"), ("London", "Greater London", "United Kingdom", "EC1A {:03d}"),
    ("Berlin", "Berlin", "Germany", "10{:03d}"), ("Munich", "Bavaria", "Germany", "80{:03d}"),
    ("Lyon", "Auvergne-Rhone-Alpes", "France", "69{:03d}"), ("Madrid", "Madrid", "Spain", "28{:03d}"),
    ("Warsaw", "Masovia", "Poland", "00-{:03d}"), ("Riga", "Riga", "Latvia", "LV-1{:03d}"),
)
TIMEZONES = ("UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago",
             "America/Los_Angeles", "Europe/Warsaw", "Asia/Dubai", "Europe/Riga")
CURRENCY_CODES = ("USD", "EUR", "GBP", "PLN", "CAD", "CHF")
ICONS = ("folder", "star", "flag", "bug", "bolt", "bookmark", "check", "clock", "heart", "inbox")
SOURCE_SYSTEMS = ("api", "import", "1c", "zapier", "webform", "email")
WORDS = (
    "review", "contract", "budget", "client", "follow-up", "delivery", "invoice", "draft", "final",
    "quarterly", "meeting", "proposal", "timeline", "scope", "feedback", "approval", "kickoff",
    "launch", "migration", "support", "training", "audit", "renewal", "report", "estimate",
)
SENTENCES = (
    "Discussed the scope with the client and agreed on next steps.",
    "Waiting for the signed contract before starting the work.",
    "Please double-check the figures before sending.",
    "Includes travel expenses and two on-site workshops.",
    "Customer asked for a revised quote with a volume discount.",
    "Follow up after the holidays.",
    "Migrated from the old CRM; some details may be missing.",
    "Priority raised after the steering committee meeting.",
    "Payment terms: net 30 days from the invoice date.",
    "See the attached specification for the details.",
    "Thanks for your business!",
    "Ünïcödé check: café, naïve, Zürich, Łódź — “quotes” & <tags>.",
)
TASK_VERBS = ("Prepare", "Review", "Update", "Send", "Fix", "Call", "Draft", "Plan", "Test", "Deploy",
              "Approve", "Schedule", "Research", "Migrate", "Document")
TASK_OBJECTS = ("the quarterly report", "invoice for Acme", "landing page", "onboarding checklist",
                "contract renewal", "client presentation", "login bug", "API integration",
                "budget forecast", "team meeting", "release notes", "data export", "support ticket",
                "price list", "newsletter")
PROJECT_KINDS = ("Website redesign", "ERP rollout", "Mobile app", "Office move", "Brand refresh",
                 "Data warehouse", "CRM migration", "Annual audit", "Trade fair", "Support retainer")
PRODUCT_ADJECTIVES = ("Premium", "Basic", "Pro", "Compact", "Wireless", "Ergonomic", "Eco", "Smart",
                      "Heavy-duty", "Portable")
PRODUCT_NOUNS = ("Chair", "Desk", "Monitor", "Keyboard", "Headset", "Router", "License", "Consulting hour",
                 "Support plan", "Cable", "Lamp", "Printer", "Notebook", "Webcam", "Server rack")
PRODUCT_CATEGORIES = ("Furniture", "Electronics", "Software", "Services", "Accessories", "Office supplies",
                      "Networking", "Lighting", "Training", "Hardware")
STAGE_NAMES = ("Backlog", "To do", "In progress", "Review", "Testing", "Done", "Blocked")
ISSUE_TYPES = ("Bug", "Story", "Task", "Epic", "Improvement", "Spike")
RELATION_NAMES = ("blocks", "is blocked by", "relates to", "duplicates", "is duplicated by", "causes")
LOSS_REASONS = ("Price too high", "Chose a competitor", "No budget", "No response", "Timing",
                "Missing features", "Project cancelled")
PIPELINE_NAMES = ("Sales", "Partners", "Enterprise", "Renewals", "Inbound", "Resellers")
WORKFLOW_NAMES = ("Default", "Scrum", "Kanban", "Support", "Bug triage", "Design review", "Approval")
LIST_NAMES = ("Today", "This week", "Waiting", "Someday", "Errands", "Important", "Personal", "Follow-ups")
CALENDAR_NAMES = ("Work", "Team", "Holidays", "Meetings", "Personal", "On-call", "Releases")
FIELD_LABELS = ("Contract number", "Region", "Lead source", "Discount code", "Delivery date", "Segment",
                "Tax ID", "Internal rating", "Account tier", "Preferred language")
FIELDSET_NAMES = ("General", "Billing", "Shipping", "Marketing", "Technical", "Legal", "Custom")
BANK_NAMES = ("First National Bank", "City Savings", "Northern Trust", "Baltic Bank", "Alpine Credit")
ENUMS = {
    "cost_type": ("fixed", "hourly", "none"),
    "price_type": ("fixed", "hourly", "none"),
    "bill_time_type": ("spent", "estimate"),
    "cost_time_type": ("spent", "estimate"),
    "default_bill_time_type": ("spent", "estimate"),
    "default_time_cost_type": ("spent", "estimate"),
    "default_invoice_item_format": ("task", "project", "user", "single"),
    "type_access": ("public", "private", "team"),
    "auto_calc": ("0", "1"),
    "tax_displayed": ("excluded", "included"),
    "last_activity_model": ("tasks", "calls", "emails", "meetings"),
    "value": ("High", "Medium", "Low", "Critical"),
    "group_field": ("main", "details", "extra", "sidebar"),
    "template_name": ("Standard", "Minimal", "Detailed", "EU VAT"),
    "tax_desc": ("VAT 20%", "VAT 7%", "Sales tax", "Exempt"),
}
MODULE_MODELS = (("task", "tasks"), ("st", "projects"), ("crm", "account"), ("crm", "lead"), ("fin", "invoice"))
CUSTOM_FIELD_TYPES = ("text", "number", "date", "select", "checkbox", "textarea")
USER_ID_RANGES = {"user": (1, 40), "currency": (1, 6), "country": (1, 250), "organisation": (1, 3),
                  "document status": (1, 6), "unit of measure": (1, 12)}


# ---------------------------------------------------------------- generators
DISTINCT_VALUES = 512  # a column draws from this many generated values unless its values are per row


def fractions(rng: Random, n: int) -> list[float]:
    """``n`` uniform numbers in [0, 1), from one block of random bytes."""
    return [code / 4294967296 for code in array("I", rng.randbytes(4 * n))]


def per_row(generate: Generator) -> Generator:
    """Mark a generator whose values belong to each row (dates, running numbers, uuids)."""
    generate.per_row = True  # type: ignore[attr-defined]
    return generate


def choose(rng: Random, pool: Sequence, n: int) -> list:
    """``n`` draws from ``pool``: like ``rng.choices`` but several times faster, from one
    block of random bytes (the modulo bias stays under 0.4%, far below what fake data notices)."""
    size = len(pool)
    if size <= 256:
        codes = array("H", rng.randbytes(2 * n))
    else:
        codes = array("I", rng.randbytes(4 * n))
    return [pool[code % size] for code in codes]


def pick(pool: Sequence) -> Generator:
    return lambda ctx: choose(ctx.rng, pool, ctx.n)


def compose(template: str, *pools: Sequence) -> Generator:
    """Strings from a template whose ``{}`` slots draw from the pools independently."""
    def generate(ctx: ColumnContext) -> list:
        columns = [choose(ctx.rng, pool, ctx.n) for pool in pools]
        return [template.format(*parts) for parts in zip(*columns)]
    return generate


def sequence(template: str, start: int = 1) -> Generator:
    """Running numbers in row order, like an auto-increment document number."""
    return per_row(lambda ctx: [template.format(i + start) for i in range(ctx.n)])


def running_numbers(start: int) -> Generator:
    return per_row(lambda ctx: list(range(start, start + ctx.n)))


def integers(low: int, high: int) -> Generator:
    return pick(range(low, high + 1))


def flags(share_of_ones: float) -> Generator:
    threshold = int(share_of_ones * 65536)
    return lambda ctx: [1 if code < threshold else 0 for code in array("H", ctx.rng.randbytes(2 * ctx.n))]


def money(low: float, high: float) -> Generator:
    """Amounts spread log-uniformly between low and high, with cents."""
    a, span = math.log10(low), math.log10(high) - math.log10(low)
    def generate(ctx: ColumnContext) -> list:
        draw = ctx.rng.random
        return [round(10 ** (a + span * draw()), 2) for _ in range(ctx.n)]
    return generate


def decimals(low: float, high: float, places: int) -> Generator:
    def generate(ctx: ColumnContext) -> list:
        draw = ctx.rng.random
        return [round(low + (high - low) * draw(), places) for _ in range(ctx.n)]
    return generate


def quantities(ctx: ColumnContext) -> list:
    """Mostly whole units, sometimes a measured amount."""
    whole = choose(ctx.rng, (1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 12.0, 20.0), ctx.n)
    measured = decimals(0.25, 50, 2)(ctx)
    return [m if code < 13107 else w for w, m, code in zip(whole, measured, array("H", ctx.rng.randbytes(2 * ctx.n)))]


def durations(ctx: ColumnContext) -> list:
    """Seconds, in quarter hours, up to 40 hours."""
    return choose(ctx.rng, range(0, 144001, 900), ctx.n)


def dates(after_days: float, before_days: float, date_only: bool = False, until_now: bool = False) -> Generator:
    """Times relative to each row's creation; ``until_now`` keeps them between creation and the data's
    end (or, with ``pending_is_null``, leaves them null where they would fall after it)."""
    low, span = int(after_days * DAY), int((before_days - after_days) * DAY)
    @per_row
    def generate(ctx: ColumnContext) -> list:
        offsets = [low + code % span for code in array("I", ctx.rng.randbytes(4 * ctx.n))]
        if until_now and ctx.pending_is_null:
            return [None if m >= DATA_END else format_timestamp(m - m % DAY if date_only else m)
                    for m in map(sum, zip(ctx.created, offsets))]
        if until_now:
            moments = [max(c, min(c + o, DATA_END - 1)) for c, o in zip(ctx.created, offsets)]
        else:
            moments = [c + o for c, o in zip(ctx.created, offsets)]
        if date_only:
            moments = [m - m % DAY for m in moments]
        return format_timestamps(moments)
    return generate


def uuids(upper: bool = False) -> Generator:
    @per_row
    def generate(ctx: ColumnContext) -> list:
        bits = ctx.rng.getrandbits
        out = []
        for _ in range(ctx.n):
            h = f"{bits(128):032x}"
            value = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
            out.append(value.upper() if upper else value)
        return out
    return generate


@per_row
def hex_tokens(ctx: ColumnContext) -> list:
    bits = ctx.rng.getrandbits
    return [f'"{bits(64):016x}"' for _ in range(ctx.n)]


def colors(ctx: ColumnContext) -> list:
    bits = ctx.rng.getrandbits
    return [f"#{bits(24):06x}" for _ in range(ctx.n)]


def formatted(template: str, *pools: Sequence) -> Generator:
    """Like ``compose`` with %-style slots, for numbers."""
    def generate(ctx: ColumnContext) -> list:
        return [template % parts for parts in zip(*(choose(ctx.rng, pool, ctx.n) for pool in pools))]
    return generate


def emails(ctx: ColumnContext) -> list:
    local = formatted("%s.%s%d@%s", FIRST_NAMES, LAST_NAMES, range(1, 100), DOMAINS)(ctx)
    return [address.lower() for address in local]


phones = formatted("+1 (%03d) %03d-%04d", range(200, 990), range(200, 1000), range(10000))
street_addresses = formatted("%d %s", range(1, 1000), STREETS)
links_by_host = {"web": "www.example.com", "contact_web": "www.example.com"}


def places(ctx: ColumnContext) -> list[tuple]:
    """The same place for every part of one address (billing_city, billing_zip...)."""
    group = re.sub(r"(city|state|country|zip)$", "", ctx.field)
    return choose(ctx.shared_rng(group), PLACES, ctx.n)


def place_part(index: int) -> Generator:
    return per_row(lambda ctx: [p[index] for p in places(ctx)])


@per_row
def zip_codes(ctx: ColumnContext) -> list:
    return [p[3].format(code) for p, code in zip(places(ctx), choose(ctx.rng, range(1000), ctx.n))]


def links(ctx: ColumnContext) -> list:
    host = links_by_host.get(ctx.field) or ctx.field.removeprefix("link_") + ".com"
    return formatted(f"https://{host}/%s-%d", COMPANY_WORDS, range(1, 10000))(ctx)


def handles(ctx: ColumnContext) -> list:
    return [h.lower() for h in formatted("%s_%s%d", FIRST_NAMES, LAST_NAMES, range(1, 100))(ctx)]


vat_numbers = formatted("%s%09d", ("DE", "FR", "GB", "PL", "LV", "ES"), range(10**8, 10**9))


def digit_codes(length: int) -> Generator:
    return lambda ctx: [f"{ctx.rng.getrandbits(48) % 10 ** length:0{length}d}" for _ in range(ctx.n)]


def json_blobs(ctx: ColumnContext) -> list:
    blobs = formatted('{"label":"%s","score":%d}', WORDS, range(1, 11))(ctx)
    return [b if code < 19661 else "{}" for b, code in zip(blobs, array("H", ctx.rng.randbytes(2 * ctx.n)))]


def discounts_as_text(ctx: ColumnContext) -> list:
    percent = formatted("%d%%", (5, 10, 15, 20))(ctx)
    fixed = [f"{v:.2f}" for v in decimals(1, 50, 2)(ctx)]
    return [p if code < 32768 else f for p, f, code in zip(percent, fixed, array("H", ctx.rng.randbytes(2 * ctx.n)))]


full_names = compose("{} {}", FIRST_NAMES, LAST_NAMES)
company_names = compose("{} {} {}", COMPANY_WORDS, COMPANY_KINDS, COMPANY_SUFFIXES)


NAMES_BY_THEME: dict[str, Generator] = {
    "tasks": compose("{} {}", TASK_VERBS, TASK_OBJECTS),
    "projects": compose("{} for {}", PROJECT_KINDS, COMPANY_WORDS),
    "account": company_names,
    "lead": compose("{}: {}", COMPANY_WORDS, PROJECT_KINDS),
    "agile_workflows": pick(WORKFLOW_NAMES),
    "task_workflows": pick(WORKFLOW_NAMES),
    "agile_epics": compose("{} {}", PROJECT_KINDS, ("phase 1", "phase 2", "MVP", "v2", "polish")),
    "agile_sprints": sequence("Sprint {}"),
    "agile_stages": pick(STAGE_NAMES),
    "agile_issues": compose("{} {}", TASK_VERBS, TASK_OBJECTS),
    "agile_issue_type": pick(ISSUE_TYPES),
    "agile_issue_relation_names": pick(RELATION_NAMES),
    "agile_issue_relation_types": compose("{} / {}", RELATION_NAMES, RELATION_NAMES),
    "agile_categories": pick(("Frontend", "Backend", "Design", "QA", "DevOps", "Docs", "Mobile")),
    "loss_reason": pick(LOSS_REASONS),
    "pipeline": pick(PIPELINE_NAMES),
    "lists": pick(LIST_NAMES),
    "calendar": pick(CALENDAR_NAMES),
    "custom_fields": pick(FIELD_LABELS),
    "custom_fields_field_sets": pick(FIELDSET_NAMES),
    "product_list": compose("{} {}", PRODUCT_ADJECTIVES, PRODUCT_NOUNS),
    "invoice_items": compose("{} {}", PRODUCT_ADJECTIVES, PRODUCT_NOUNS),
    "product_categories": pick(PRODUCT_CATEGORIES),
    "product_price_list": compose("{} prices {}", ("Retail", "Wholesale", "Partner", "Export"), CURRENCY_CODES),
    "product_manufacturer": compose("{} {}", COMPANY_WORDS, COMPANY_KINDS),
    "bank_account": compose("{} account {}", ("Main", "Savings", "Payroll", "Cash", "Card"), CURRENCY_CODES),
    "customer_payment": compose("Payment from {} {}", COMPANY_WORDS, COMPANY_SUFFIXES),
    "transactions": compose("{} {}", ("Payment", "Refund", "Fee", "Transfer", "Salary"), COMPANY_WORDS),
}


@per_row
def names(ctx: ColumnContext) -> list:
    return NAMES_BY_THEME.get(ctx.theme, compose("{} {}", WORDS, WORDS))(ctx)


def non_resource_ids(ctx: ColumnContext) -> list:
    what = "user" if ctx.field.endswith("_by") else (
        NON_RESOURCE_IDS.get(f"{ctx.theme}.{ctx.field}") or NON_RESOURCE_IDS.get(ctx.field, ""))
    low, high = USER_ID_RANGES.get(what, (1, 300))
    return integers(low, high)(ctx)


def module_model_part(index: int) -> Generator:
    """``module`` and ``model`` of one row name the same entity (e.g. 'crm' + 'lead')."""
    return per_row(lambda ctx: [pair[index] for pair in choose(ctx.shared_rng("module_model"), MODULE_MODELS, ctx.n)])


def enum_of_field(ctx: ColumnContext) -> list:
    return choose(ctx.rng, ENUMS[ctx.field], ctx.n)


# --------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    """Fields whose name fully matches ``pattern`` (and JSON type, if given) get ``generate``."""

    pattern: str
    generate: Generator
    null_rate: float = 0.05
    json_type: str | None = None
    is_date: bool = False

    def matches(self, field: str, json_type: str) -> bool:
        return (self.json_type in (None, json_type)) and re.fullmatch(self.pattern, field) is not None


def date_rule(pattern: str, generate: Generator, null_rate: float) -> Rule:
    return Rule(pattern, generate, null_rate, "string", is_date=True)


S, N = "string", "number"
RULES: tuple[Rule, ...] = (
    # dates: events that happened (or not yet), plans, and plain dates
    date_rule(r"(first_)?closed_date|completed_date|archived?_date|complete_date|paid_date|closed_at"
              r"|(invoice|estimate)_emailed_date|reminders_sent_date|status_updated_date|status_firstviewdate"
              r"|(pls_)?fixed_balance_date|last_activity_time", dates(0, 400, until_now=True), 0.45),
    date_rule(r"due_date|expire_date|enddate|closing_date", dates(7, 90, date_only=True), 0.15),
    date_rule(r"deadline|end_date|plan_end_date", dates(1, 120), 0.25),
    date_rule(r"date|startdate|invoice_date", dates(0, 14, date_only=True), 0.05),
    date_rule(r"start_date|plan_start_date|standup_time", dates(0, 14), 0.2),
    date_rule(r"organization_registration_date", dates(-7300, -365, date_only=True), 0.3),
    date_rule(r".*(date|_at|_time)", dates(0, 200, until_now=True), 0.3),
    # flags
    Rule(r"active|taxable|show_.*|is_default|use_default_.*", flags(0.85), 0.02),
    Rule(r"is_.*|.*_included|all_day|deadline_allowchange|default|required|hidden_detail|api_use_alias"
         r"|webhook_use_alias|started|need_approve|exported_1c|use_multiple_pm|bill_taxes|task_checkbyowner"
         r"|public_template|invoice_emailed|discount_is_percent|discount_before_tax|default_only_completed_task",
         flags(0.2), 0.02),
    # money, rates and quantities
    Rule(r".*exchange_rate", decimals(0.5, 1.5, 4), 0.05, N),
    Rule(r"tax|tax1|tax2", pick((0.0, 5.0, 7.5, 10.0, 18.0, 20.0, 21.0)), 0.05, N),
    Rule(r".*billing_rate|.*cost_rate|rate", money(15, 250), 0.05, N),
    Rule(r"quantity", quantities, 0.0, N),
    Rule(r"discount", discounts_as_text, 0.3, S),
    Rule(r"budget|estimated_.*|organization_(expenses|revenue)|.*balance", money(1000, 500000), 0.1, N),
    Rule(r"unit_price|price|cost|.*price_\d+", money(5, 2000), 0.05),
    Rule(r"shipping_charge", money(5, 200), 0.3, N),
    Rule(r"adjustment", decimals(-50, 50, 2), 0.5, N),
    Rule(r".*total|.*amount.*|bill_cost_.*|.*charge|.*income|.*outcome|discount", money(10, 50000), 0.05, N),
    # time and effort
    Rule(r"time_estimate|time_spent|bill_time|unbill_time|.*_time_estimate", durations, 0.05, N),
    Rule(r"estimate|effort", pick((1, 2, 3, 5, 8, 13)), 0.2, N),
    # counts, numbers and small codes
    Rule(r"number|invoice_number|estimate_number", running_numbers(1), 0.0, N),
    Rule(r"organization_employee_count", integers(1, 5000), 0.3, N),
    Rule(r"return_count|reminders_sent", integers(0, 3), 0.02, N),
    Rule(r"ordering|ordering_by_group", integers(0, 100), 0.02, N),
    Rule(r"priority", integers(1, 5), 0.02, N),
    Rule(r"rating", integers(0, 5), 0.1, N),
    Rule(r"role", integers(1, 3), 0.0, N),
    Rule(r".*_id|.*_by|merged_to", non_resource_ids, 0.1, N),
    Rule(r"status.*|.*_status|archive_status", integers(0, 5), 0.02, N),
    Rule(r"type|.*_type|tree_type|online_payment_.*|event_.*|sync_type|default_invoice_split_type_in_project",
         integers(1, 4), 0.02, N),
    # identifiers and codes
    Rule(r"uuid|ref_uuid", uuids(), 0.02, S),
    Rule(r"guid_1c", uuids(upper=True), 0.4, S),
    Rule(r"etag|event_etag", hex_tokens, 0.3, S),
    Rule(r"invoice_number_print", sequence("INV-{:06d}"), 0.0, S),
    Rule(r"estimate_number_print", sequence("EST-{:06d}"), 0.0, S),
    Rule(r"number_label", sequence("ISS-{}"), 0.0, S),
    Rule(r"reference|reference_number", sequence("REF-{:07d}", 1000), 0.3, S),
    Rule(r"ref", pick(SOURCE_SYSTEMS), 0.5, S),
    Rule(r"ref_id", sequence("ext-{}", 40000), 0.5, S),
    Rule(r"code_ean|code_isbn", digit_codes(13), 0.5, S),
    Rule(r"code_upc", digit_codes(12), 0.5, S),
    Rule(r"code|article|code_mpn", sequence("SKU-{:05d}", 100), 0.1, S),
    # people, companies and places
    Rule(r"email|email_personal|contact_email", emails, 0.1, S),
    Rule(r"phone\d?|.*_phone\d?|contact_mobile", phones, 0.2, S),
    Rule(r"first_name", pick(FIRST_NAMES), 0.3, S),
    Rule(r"last_name", pick(LAST_NAMES), 0.3, S),
    Rule(r"middle_name", pick(MIDDLE_NAMES), 0.7, S),
    Rule(r"contact_name|contact_person2?", full_names, 0.2, S),
    Rule(r"customer_name|contact_company|customer_legal_name|name_legal(_full)?", company_names, 0.1, S),
    Rule(r"contact_position|contact_person2?_position", pick(JOB_TITLES), 0.3, S),
    Rule(r".*address_line_[23]", pick(("Suite 100", "Floor 2", "Unit B", "Building 4")), 0.7, S),
    Rule(r".*address(_line_1|_legal)?", street_addresses, 0.1, S),
    Rule(r".*city", place_part(0), 0.1, S),
    Rule(r".*state", place_part(1), 0.2, S),
    Rule(r".*country", place_part(2), 0.1, S),
    Rule(r".*zip", zip_codes, 0.1, S),
    Rule(r"web|contact_web|link_.*", links, 0.4, S),
    Rule(r"skype|telegram", handles, 0.5, S),
    Rule(r"(?i)vat\d?|.*_vat\d?", vat_numbers, 0.3, S),
    Rule(r"timezone", pick(TIMEZONES), 0.1, S),
    Rule(r"currency_code|pricelist_currency_\d+", pick(CURRENCY_CODES), 0.02, S),
    # looks
    Rule(r"color|event_color", colors, 0.1, S),
    Rule(r"icon", pick(ICONS), 0.2, S),
    # texts
    Rule(r"name", names, 0.01, S),
    Rule(r"type", pick(CUSTOM_FIELD_TYPES), 0.0, S),
    Rule(r"module", module_model_part(0), 0.0, S),
    Rule(r"model", module_model_part(1), 0.0, S),
    Rule("|".join(ENUMS), enum_of_field, 0.05, S),
    Rule(r"extra_fields", json_blobs, 0.2, S),
    Rule(r"bank", pick(BANK_NAMES), 0.3, S),
    Rule(r"alias", compose("{}_{}", WORDS, WORDS), 0.3, S),
    Rule(r"formula", pick(("", "", "{price} * {quantity}", "{total} - {discount}")), 0.3, S),
    Rule(r"event_location", street_addresses, 0.6, S),
    Rule(r"cf_.*|cache_value", compose("{} {}", WORDS, WORDS), 0.4, S),
    Rule(r".*", pick(SENTENCES), 0.3, S),
    Rule(r".*", integers(0, 10), 0.05, N),
)


def generate_column(rule: Rule, ctx: ColumnContext) -> list:
    """The rule's values for every row: per-row values are made for each row, others are
    drawn from a few hundred made ones (values repeat across rows anyway; this is 10x faster)."""
    if ctx.n <= DISTINCT_VALUES or getattr(rule.generate, "per_row", False):
        return rule.generate(ctx)
    made = rule.generate(ColumnContext(ctx.rng, ctx.ids[:DISTINCT_VALUES], ctx.created[:DISTINCT_VALUES],
                                       ctx.theme, ctx.field))
    return choose(ctx.rng, made, ctx.n)


@functools.cache
def rule_for(field: str, json_type: str) -> Rule:
    return next(rule for rule in RULES if rule.matches(field, json_type))


def as_json_type(values: list, json_type: str) -> list:
    """Numbers sent in a string field travel as text ('12.50', '3'), the way the API sends them.
    A column holds one type (and nulls), so its first value tells whether to convert."""
    sample = next((v for v in values if v is not None), "")
    if json_type != "string" or isinstance(sample, str):
        return values
    text = "{:.2f}".format if isinstance(sample, float) else str
    return [None if v is None else text(v) for v in values]


# ------------------------------------------------------------ derived amounts
def _cents(value: float) -> float:
    return round(value, 2)


def document_totals(row: dict) -> None:
    """An invoice or estimate adds up: tax on the subtotal, plus shipping and adjustment, less discount."""
    sub_total = row.get("sub_total")
    if sub_total is None:
        return
    rate = (row.get("tax1") or 0) + (row.get("tax2") or 0)
    row["tax_total"] = _cents(sub_total * rate / 100)
    discount = row.get("discount")
    if discount is None:
        discount = 0.0
    elif row.get("is_discount_percent"):
        row["discount"] = percent = float(int(discount) % 4 * 5)  # 0, 5, 10 or 15 %
        discount = sub_total * percent / 100
    else:
        row["discount"] = discount = _cents(min(discount, sub_total * 0.15))
    extra = (row.get("shipping_charge") or 0) + (row.get("adjustment") or 0)
    row["total"] = _cents(max(0.0, sub_total + row["tax_total"] + extra - min(discount, sub_total)))


def line_totals(row: dict) -> None:
    """An invoice line adds up: quantity times unit price, plus each tax."""
    quantity, unit_price = row.get("quantity"), row.get("unit_price")
    if quantity is None or unit_price is None:
        return
    row["sub_total"] = sub_total = _cents(quantity * unit_price)
    for tax in ("tax1", "tax2"):
        if f"{tax}_amount" in row:
            row[f"{tax}_amount"] = _cents(sub_total * (row.get(tax) or 0) / 100)
    row["tax_total"] = _cents((row.get("tax1_amount") or 0) + (row.get("tax2_amount") or 0))
    row["total"] = _cents(sub_total + row["tax_total"])


DERIVED_FIELDS: dict[str, Callable[[dict], None]] = {
    "invoice": document_totals,
    "estimates": document_totals,
    "invoice_items": line_totals,
}
