"""``holds``: a condition written as an expression over the member, e.g.
``- holds: {expr: 'member.attributes.membership == "student"'}``.

The expression is jinja2's (the templates' language) in the same budgeted sandbox as the
templates; it sees ``member`` (``id``, ``name``, ``locale``, ``timezone``, ``joined_at`` and
``attributes``, what the CRM says: ``steward crm import``), ``community``, ``platform`` and ``now``. An
attribute the member does not have is empty (false), not an error."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.engine.actions import member_view
from bot.engine.context import RunContext
from bot.engine.registry import condition
from bot.messaging.budget import BudgetedSandbox


@lru_cache(maxsize=1)
def _env() -> BudgetedSandbox:
    return BudgetedSandbox(undefined=ChainableUndefined)


@lru_cache(maxsize=512)
def compiled(expr: str):
    return _env().compile_expression(expr, undefined_to_none=False)


class Expr(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expr: str = Field(min_length=1, max_length=1000,
                      description='an expression, e.g. member.attributes.membership == "student"')

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        try:
            compiled(v)
        except TemplateError as e:
            raise ValueError(f"not an expression: {e.message or e}") from None
        return v


@condition("holds", Expr)
async def holds(ctx: RunContext, p: Expr) -> bool:
    """The expression is true for the subject (e.g. member.attributes.membership == "student")."""
    member: Any = await member_view(ctx, ctx.subject.member_id) or {"attributes": {}}
    s = ctx.engine.settings
    try:
        return bool(compiled(p.expr)(member=member, platform=ctx.platform, now=ctx.now,
                                     community={"name": getattr(s, "community_name", "")}))
    except TemplateError:
        return False
