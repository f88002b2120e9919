"""Table printers for cluster-level kinds: scheduling, coordination, node,
certificates, admission and flow control.

LimitRange and CustomResourceDefinition are registered upstream with the
default table convertor (NAME, CREATED AT), so they have no printer here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api import durations
from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    dig,
    name,
    num,
    text,
)

FLOW = "io.k8s.api.flowcontrol.v1."
CSR = "io.k8s.api.certificates.v1.CertificateSigningRequest"

# --- scheduling, coordination, node ---

PRIORITY_CLASS_COLUMNS = (
    NAME,
    Col("Value", "integer", ("io.k8s.api.scheduling.v1.PriorityClass", "value")),
    Col("Global-Default", "boolean", ("io.k8s.api.scheduling.v1.PriorityClass", "globalDefault")),
    AGE,
    Col("PreemptionPolicy", doc=("io.k8s.api.scheduling.v1.PriorityClass", "preemptionPolicy"), priority=1),
)
LEASE_COLUMNS = (NAME, Col("Holder", doc=("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")), AGE)
RUNTIME_CLASS_COLUMNS = (NAME, Col("Handler", doc=("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "handler")), AGE)

# --- certificates and admission ---

CSR_COLUMNS = (
    NAME,
    AGE,
    Col("SignerName", doc=(CSR + "Spec", "signerName")),
    Col("Requestor", doc=(CSR + "Spec", "request")),
    Col("RequestedDuration", doc=(CSR + "Spec", "expirationSeconds")),
    Col("Condition", doc=(CSR + "Status", "conditions")),
)
WEBHOOK_COLUMNS = (
    NAME,
    Col("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
    AGE,
)
POLICY_COLUMNS = (
    NAME,
    Col("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
    Col("ParamKind", doc="ParamKind specifies the kind of resources used to parameterize this policy"),
    AGE,
)
POLICY_BINDING_COLUMNS = (
    NAME,
    Col("PolicyName", doc="PolicyName indicates the policy definition which the policy binding binded to"),
    Col("ParamRef", doc="ParamRef indicates the param resource which sets the configration param"),
    AGE,
)


def csr_condition(obj: Obj) -> str:
    types = {c.get("type") for c in dig(obj, "status", "conditions", default=[])}
    status = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        status += ",Failed"
    if dig(obj, "status", "certificate"):
        status += ",Issued"
    return status


def csr_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    seconds = spec.get("expirationSeconds")
    return [
        name(obj),
        age(obj, now),
        text(spec.get("signerName")) or "<none>",
        text(spec.get("username")),
        durations.human(num(seconds)) if seconds is not None else "<none>",
        csr_condition(obj),
    ]


def policy_cells(obj: Obj, now: datetime) -> list[Any]:
    kind = dig(obj, "spec", "paramKind")
    param_kind = f"{text(kind.get('apiVersion'))}/{text(kind.get('kind'))}" if isinstance(kind, dict) else "<unset>"
    return [name(obj), len(dig(obj, "spec", "validations", default=[])), param_kind, age(obj, now)]


def policy_binding_cells(obj: Obj, now: datetime) -> list[Any]:
    ref = dig(obj, "spec", "paramRef")
    param = "<unset>"
    if isinstance(ref, dict):
        if ref.get("name"):
            # A param without a namespace may be cluster-scoped: upstream shows "*/name".
            param = f"{ref.get('namespace') or '*'}/{ref['name']}"
        elif isinstance(ref.get("selector"), dict):
            param = _go_label_selector_string(ref["selector"])
    return [name(obj), text(dig(obj, "spec", "policyName")), param, age(obj, now)]


def _go_label_selector_string(selector: dict) -> str:
    """metav1.LabelSelector.String(), the generated Go struct dump."""
    labels = ",".join(f"{k}: {v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    exprs = ",".join(
        f"LabelSelectorRequirement{{Key:{text(e.get('key'))},Operator:{text(e.get('operator'))},"
        f"Values:[]string{{{','.join(e.get('values') or [])}}},}}"
        for e in selector.get("matchExpressions") or []
    )
    return f"&LabelSelector{{MatchLabels:map[string]string{{{labels},}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"


# --- flow control ---

FLOW_SCHEMA_COLUMNS = (
    NAME,
    Col("PriorityLevel", doc=(FLOW + "PriorityLevelConfigurationReference", "name")),
    Col("MatchingPrecedence", doc=(FLOW + "FlowSchemaSpec", "matchingPrecedence")),
    Col("DistinguisherMethod", doc=(FLOW + "FlowSchemaSpec", "distinguisherMethod")),
    AGE,
    Col("MissingPL", doc="references a broken or non-existent PriorityLevelConfiguration"),
)
PRIORITY_LEVEL_COLUMNS = (
    NAME,
    Col("Type", doc=(FLOW + "PriorityLevelConfigurationSpec", "type")),
    Col("NominalConcurrencyShares", doc=(FLOW + "LimitedPriorityLevelConfiguration", "nominalConcurrencyShares")),
    Col("Queues", doc=(FLOW + "QueuingConfiguration", "queues")),
    Col("HandSize", doc=(FLOW + "QueuingConfiguration", "handSize")),
    Col("QueueLengthLimit", doc=(FLOW + "QueuingConfiguration", "queueLengthLimit")),
    AGE,
)


def flow_schema_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    method = dig(spec, "distinguisherMethod", "type")
    missing = "?"
    for cond in dig(obj, "status", "conditions", default=[]):
        if cond.get("type") == "Dangling":
            missing = text(cond.get("status"))
            break
    return [
        name(obj),
        text(dig(spec, "priorityLevelConfiguration", "name")),
        num(spec.get("matchingPrecedence")),
        text(method) if method is not None else "<none>",
        age(obj, now),
        missing,
    ]


def priority_level_cells(obj: Obj, now: datetime) -> list[Any]:
    limited = dig(obj, "spec", "limited")
    shares: Any = "<none>"
    queues: Any = "<none>"
    hand: Any = "<none>"
    length: Any = "<none>"
    if isinstance(limited, dict):
        shares = num(limited.get("nominalConcurrencyShares"))
        queuing = dig(limited, "limitResponse", "queuing")
        if isinstance(queuing, dict):
            queues, hand = num(queuing.get("queues")), num(queuing.get("handSize"))
            length = num(queuing.get("queueLengthLimit"))
    return [name(obj), text(dig(obj, "spec", "type")), shares, queues, hand, length, age(obj, now)]


def flow_schema_order(obj: Obj) -> tuple[int, str]:
    """FlowSchemaSequence: by matchingPrecedence, then name."""
    return num(dig(obj, "spec", "matchingPrecedence")), name(obj)


_ADMISSION = "admissionregistration.k8s.io"
PRINTERS = {
    ("scheduling.k8s.io", "PriorityClass"): Printer(
        PRIORITY_CLASS_COLUMNS,
        lambda o, now: [
            name(o), num(o.get("value")), bool(o.get("globalDefault")), age(o, now), text(o.get("preemptionPolicy")),
        ],
    ),
    ("coordination.k8s.io", "Lease"): Printer(
        LEASE_COLUMNS, lambda o, now: [name(o), text(dig(o, "spec", "holderIdentity")), age(o, now)]
    ),
    ("node.k8s.io", "RuntimeClass"): Printer(
        RUNTIME_CLASS_COLUMNS, lambda o, now: [name(o), text(o.get("handler")), age(o, now)]
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"): Printer(CSR_COLUMNS, csr_cells),
    (_ADMISSION, "MutatingWebhookConfiguration"): Printer(
        WEBHOOK_COLUMNS, lambda o, now: [name(o), len(o.get("webhooks") or []), age(o, now)]
    ),
    (_ADMISSION, "ValidatingWebhookConfiguration"): Printer(
        WEBHOOK_COLUMNS, lambda o, now: [name(o), len(o.get("webhooks") or []), age(o, now)]
    ),
    (_ADMISSION, "ValidatingAdmissionPolicy"): Printer(POLICY_COLUMNS, policy_cells),
    (_ADMISSION, "ValidatingAdmissionPolicyBinding"): Printer(POLICY_BINDING_COLUMNS, policy_binding_cells),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): Printer(
        FLOW_SCHEMA_COLUMNS, flow_schema_cells, sort_key=flow_schema_order
    ),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): Printer(
        PRIORITY_LEVEL_COLUMNS, priority_level_cells
    ),
}
