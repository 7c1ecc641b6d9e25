"""Moderators' decisions on a case (the digest's buttons) and what Steward does on the platform for
them: delete, time out, remove from a channel, warn by DM. A mixin of ``Moderation`` (queue.py)."""

from __future__ import annotations

import logging
from typing import Any

from bot.core.records import OutboundMessage, SendResult
from bot.core.roles import NOT_A_MANAGER, NOT_ABOUT_YOURSELF, about_themselves, roles_of
from bot.moderation.cases import Case

log = logging.getLogger("steward.moderation")

#: button action -> (decision code, resulting status, words for people)
DECISIONS: dict[str, tuple[str, str, str]] = {
    "case_dismiss": ("dismiss", "dismissed", "dismissed as a false positive"),
    "case_warn": ("warn", "warned", "warned by DM"),
    "case_delete": ("delete", "deleted", "message deleted"),
    "case_timeout": ("timeout", "timed_out", "timed out"),
    "case_remove": ("remove", "removed", "removed from the channel"),
    "case_ban": ("ban", "ban_suggested", "ban suggested to the admins"),
}

#: what ``decide`` answers when the clicker may not decide the case (the adapter tells them privately)
REFUSALS = (NOT_A_MANAGER, NOT_ABOUT_YOURSELF)


class Decisions:
    """Carrying out decisions. Uses what ``Moderation`` has: ``engine``, ``cases``, ``case_view``,
    ``_member``, ``_base_context``, ``moderators_channel``, ``locale`` and ``timeout_seconds``."""

    engine: Any
    cases: Any

    # ------------------------------------------------------------------ platform actions
    def _gateway(self, platform: str):
        return self.engine.outbox.gateways.get(platform)

    async def _call(self, platform: str, method: str, *args: Any) -> SendResult:
        if self.engine.dry_run:
            return SendResult(ok=True, error="dry run: nothing was done")
        gw = self._gateway(platform)
        fn = getattr(gw, method, None) if gw is not None else None
        if fn is None:
            return SendResult(ok=False, error=f"the {platform} connection cannot {method.replace('_', ' ')}",
                              permanent=True)
        try:
            return await fn(*args)
        except Exception as e:  # a platform refusal must not lose the decision
            log.warning("%s failed: %s", method, e)
            return SendResult(ok=False, error=f"{type(e).__name__}: {e}")

    async def _auto_delete(self, case: Case, platform: str, channel_id: str, message_id: str,
                           rules: list[str]) -> Case:
        res = await self._call(platform, "delete_message", channel_id, message_id)
        if self.engine.dry_run:
            text = "would delete (dry run)"
        else:
            text = "deleted the message" if res.ok else f"delete failed: {res.error}"
        await self.cases.set_auto_action(case.id, text)
        await self.engine.store.audit(at=self.engine.clock.now(), platform=platform, actor="steward",
                                      action="case:auto_delete", target=f"case:{case.id}",
                                      detail={"member": case.member_id, "rules": rules,
                                              "message": f"{channel_id}/{message_id}", "ok": res.ok,
                                              "error": res.error})
        got = await self.cases.get(case.id)
        return got or case

    # ------------------------------------------------------------------ decisions
    async def decide(self, *, platform: str, case_id: int, action: str, moderator_id: str,
                     reply_channel: str | None = None, roles: tuple[str, ...] = (),
                     platform_admin: bool = False) -> str:
        """Carry out a moderator's button click; returns what happened, in words (one of ``REFUSALS``
        when the clicker may not decide this case: nothing is then done)."""
        now = self.engine.clock.now()
        if action not in DECISIONS:
            return f"unknown action {action}"
        code, status, words = DECISIONS[action]
        case = await self.cases.get(case_id)
        if case is None or case.platform != platform:
            return f"there is no case #{case_id}"
        refusal = None
        if not await roles_of(self.engine).is_moderator(platform, moderator_id, roles=roles,
                                                        platform_admin=platform_admin):
            refusal, why = NOT_A_MANAGER, "not a moderator"
        elif about_themselves(moderator_id, case.member_id):
            refusal, why = NOT_ABOUT_YOURSELF, "about themselves"
        if refusal is not None:
            await self.engine.store.audit(at=now, platform=platform, actor=moderator_id, action="case:refused",
                                          target=f"case:{case.id}", detail={"button": code, "why": why})
            return refusal
        if code in case.decisions or case.status == "dismissed" or (code == "dismiss" and case.status != "open"):
            who = case.decided_by or "someone"
            await self._notice(platform, moderator_id, reply_channel, f"already:{case.id}:{code}:{now.isoformat()}",
                               f"Case #{case.id} was already decided ({case.status.replace('_', ' ')}) by <@{who}>.")
            return "already decided"
        result = await self._carry_out(case, code, moderator_id)
        case = await self.cases.decide(case, code, status, moderator_id, now)
        await self.engine.store.audit(
            at=now, platform=platform, actor=moderator_id, action=f"case:{code}", target=f"case:{case.id}",
            detail={"member": case.member_id, "rule": case.rule, "status": status, "ok": result.ok,
                    "error": result.error, "messages": list(case.message_refs)})
        outcome = words if result.ok else f"{words}: failed ({result.error})"
        await self._post_decision(case, moderator_id, outcome, code)
        hooks = self.engine.services.webhooks
        if hooks is not None and hooks.wanted("case.decided"):
            await hooks.emit("case.decided", {"case_id": case.id, "platform": platform, "member_id": case.member_id,
                                              "rule": case.rule, "decision": code, "decided_by": moderator_id},
                             key=f"{case.id}:{code}", member=case.member_id)
        return outcome

    async def _carry_out(self, case: Case, code: str, moderator_id: str) -> SendResult:
        p = case.platform
        if code in ("dismiss", "ban"):
            # dismissal is the record itself; bans stay with humans who hold the platform's ban right
            return SendResult(ok=True)
        if code == "warn":
            return await self._warn(case)
        if code == "delete":
            errors = []
            for ch, mid in case.messages():
                res = await self._call(p, "delete_message", ch, mid)
                if not res.ok:
                    errors.append(res.error or "error")
            return SendResult(ok=not errors, error="; ".join(errors) or None)
        if code == "timeout":
            return await self._call(p, "timeout_member", case.member_id, self.timeout_seconds(),
                                    f"moderation case #{case.id}")
        if code == "remove":
            if not case.channel_id:
                return SendResult(ok=False, error="the case has no channel")
            return await self._call(p, "remove_from_channel", case.channel_id, case.member_id)
        return SendResult(ok=False, error="unknown decision")

    async def _warn(self, case: Case) -> SendResult:
        member = await self._member(case.platform, case.member_id)
        view = await self.case_view(case)
        # the member reads the rule and their own words, never who reported them
        view["reporter"] = None
        view["reason"] = "" if case.reporter_id else view["reason"]
        context = {**self._base_context(), "member": member, "case": view}
        locale = (member or {}).get("locale") or self.locale()
        text = self.engine.templates.render("moderation_warn", context, locale)
        msg = OutboundMessage(platform=case.platform, kind="dm", text=text, member_id=case.member_id,
                              dedupe_key=f"moderation:case:{case.id}:warn_dm")
        # a moderator's warning is not outreach: opting out of Steward's messages does not opt out of moderation
        item = await self.engine.outbox.submit(msg, playbook_id="command:moderation", action="warn",
                                               reason=f"case #{case.id}")
        if item is None:
            return SendResult(ok=True)
        if item.status == "failed":
            return SendResult(ok=False, error=item.error or "DM refused")
        return SendResult(ok=True)

    async def _post_decision(self, case: Case, moderator_id: str, outcome: str, code: str) -> None:
        channel = self.moderators_channel(case.platform)
        if not channel:
            return
        context = {**self._base_context(), "case": await self.case_view(case),
                   "decision": {"code": code, "text": outcome},
                   "moderator": await self._member(case.platform, moderator_id)}
        context["member"] = context["case"]["member"]
        text = self.engine.templates.render("case_decision", context, self.locale())
        msg = OutboundMessage(platform=case.platform, kind="channel", text=text, channel_id=channel,
                              mention_ids=(), dedupe_key=f"moderation:case:{case.id}:{code}")
        await self.engine.outbox.submit(msg, playbook_id="moderation", action=f"case_{code}",
                                        reason=f"case #{case.id} decided by {moderator_id}")

    async def _notice(self, platform: str, member_id: str, channel_id: str | None, key: str, text: str) -> None:
        """A private note to one member: ephemeral where it was clicked, else a DM."""
        kind = "ephemeral" if channel_id else "dm"
        msg = OutboundMessage(platform=platform, kind=kind, text=text, member_id=member_id, channel_id=channel_id,
                              mention_ids=(), dedupe_key=f"moderation:notice:{key}")
        await self.engine.outbox.submit(msg, playbook_id="command:moderation", action="notice", reason=text[:100])
