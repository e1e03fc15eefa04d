"""approval: a person approves or rejects, with a comment. Only the chosen port is filled, so a
branch wired to ``rejected`` runs on a rejection and is skipped on an approval (and the other
way round), exactly like a router's branches."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..schema import FieldSpec
from .base import NodeFailure, SignatureField, input_ports, unique_names
from .human import HumanConfig, HumanKind
from .registry import registry


class ApprovalConfig(HumanConfig):
    question: str = Field("Approve?", max_length=4000, description="What the approver is asked.")
    inputs: list[SignatureField] = Field(
        default_factory=lambda: [SignatureField(name="subject", type="any", required=False)],
        max_length=32, description="What the approver sees; the first one is passed on through approved/rejected.")
    on_timeout: Literal["approve", "reject", "fail"] = Field(
        "fail", description="What happens when nobody answers within answer_timeout_s.")
    comment_required: bool = Field(False, description="A rejection must say why.")

    _unique = field_validator("inputs")(classmethod(lambda cls, v: unique_names(v)))


@registry.register
class ApprovalNode(HumanKind[ApprovalConfig]):
    kind = "approval"
    title = "Approval"
    description = "Waits for a person to approve or reject (with a comment); the reject port can lead to its own branch."
    icon = "check-circle"
    Config = ApprovalConfig
    dynamic_inputs = "inputs"

    def inputs(self, config: ApprovalConfig) -> dict[str, FieldSpec]:
        return input_ports(config.inputs)

    def outputs(self, config: ApprovalConfig) -> dict[str, FieldSpec]:
        carried = config.inputs[0].type if config.inputs else "boolean"
        return {"approved": FieldSpec(type=carried, description="Set on approval (the first input, or true)"),
                "rejected": FieldSpec(type=carried, description="Set on rejection (the first input, or true)"),
                "comment": FieldSpec(type="string", description="The approver's comment"),
                "decision": FieldSpec(type="string", description="approved or rejected")}

    def form(self, config: ApprovalConfig) -> dict[str, Any]:
        return {"type": "object", "required": ["action"], "properties": {
            "action": {"type": "string", "enum": ["approve", "reject"], "title": "Decision"},
            "comment": {"type": "string", "title": "Comment", "maxLength": 4000}}}

    def on_timeout(self, config: ApprovalConfig) -> str | None:
        return config.on_timeout

    def answer_issues(self, config: ApprovalConfig, answer: Any) -> list[tuple[str, str]]:
        if not isinstance(answer, dict):
            return [("answer", "must be an object {action, comment}")]
        issues = [(f"answer.{k}", "unknown field") for k in answer if k not in ("action", "comment")]
        if answer.get("action") not in ("approve", "reject"):
            issues.append(("answer.action", "must be approve or reject"))
        comment = answer.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 4000:
            issues.append(("answer.comment", "must be text of at most 4000 characters"))
        elif config.comment_required and answer.get("action") == "reject" and not comment.strip():
            issues.append(("answer.comment", "a rejection needs a comment"))
        return issues

    def timeout_answer(self, config: ApprovalConfig) -> dict[str, Any]:
        return {"action": config.on_timeout, "comment": f"no answer in time: {config.on_timeout} by default"}

    def outputs_for(self, config: ApprovalConfig, inputs: dict[str, Any], answer: dict[str, Any], source: str) -> dict[str, Any]:
        action = answer.get("action")
        if action == "fail":
            raise NodeFailure(answer.get("comment") or "no answer in time", {"type": "human_timeout"})
        first = config.inputs[0].name if config.inputs else None
        carried = inputs.get(first, True) if first else True
        port = "approved" if action == "approve" else "rejected"
        return {port: carried, "comment": answer.get("comment", ""), "decision": port}
