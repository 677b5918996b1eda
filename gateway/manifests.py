"""SecretProviderClass manifests, and the request attributes the driver would build from them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway import yaml11
from gateway.request import POD_NAME, POD_NAMESPACE, POD_UID, SERVICE_ACCOUNT, SPC_NAME, TOKENS

SPC_KIND = "SecretProviderClass"


class ManifestError(ValueError):
    """A file that cannot be read as a manifest or parameters file."""


@dataclass(frozen=True)
class SpcDocument:
    """One SecretProviderClass from a manifest file."""

    name: str
    namespace: str
    provider: str
    parameters: Mapping[str, str]
    secret_objects: list[Any] = field(default_factory=list)
    source: str = ""
    problems: tuple[str, ...] = ()


def _load_yaml(path: Path, documents: bool) -> Any:
    """One document, or (``documents``) the list of all documents, of a YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
        return yaml11.load_all(text) if documents else yaml11.load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None
    except yaml11.YamlError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from None


def load_spcs(path: Path) -> list[SpcDocument]:
    """Every SecretProviderClass in a (multi-document) YAML file, including ``kind: List`` items."""
    documents = _load_yaml(path, documents=True)
    found = []
    for number, document in enumerate(_flatten(documents)):
        if isinstance(document, dict) and document.get("kind") == SPC_KIND:
            found.append(_spc(document, f"{path}#{number}"))
    return found


def load_parameters(path: Path) -> SpcDocument:
    """A bare parameters file (a YAML/JSON mapping, like ``spec.parameters``) as an anonymous SPC."""
    document = _load_yaml(path, documents=False)
    if not isinstance(document, dict):
        raise ManifestError(f"{path}: a parameters file must be a mapping of parameter name -> string")
    parameters, problems = _parameters(document)
    return SpcDocument(path.stem, "", "", parameters, source=str(path), problems=tuple(problems))


def _flatten(documents: list[Any]) -> list[Any]:
    flat = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List" and isinstance(document.get("items"), list):
            flat.extend(document["items"])
        else:
            flat.append(document)
    return flat


def _spc(document: dict[str, Any], source: str) -> SpcDocument:
    raw_metadata, raw_spec = document.get("metadata"), document.get("spec")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    problems = [] if raw_spec is None or isinstance(raw_spec, dict) else ["spec must be a mapping"]
    raw_parameters = spec.get("parameters") or {}
    if not isinstance(raw_parameters, dict):
        problems.append("spec.parameters must be a mapping of string -> string")
        raw_parameters = {}
    parameters, parameter_problems = _parameters(raw_parameters)
    problems += parameter_problems
    secret_objects = spec.get("secretObjects") or []
    if not isinstance(secret_objects, list):
        problems.append("spec.secretObjects must be a list")
        secret_objects = []
    return SpcDocument(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        provider=str(spec.get("provider", "")),
        parameters=parameters,
        secret_objects=secret_objects,
        source=source,
        problems=tuple(problems),
    )


def _parameters(raw: dict[Any, Any]) -> tuple[dict[str, str], list[str]]:
    """Kubernetes keeps parameters as strings: a non-string value would be refused by the API server."""
    parameters: dict[str, str] = {}
    problems = []
    for key, value in raw.items():
        if not isinstance(value, str):
            problems.append(f'spec.parameters.{key} must be a string (quote it); got {type(value).__name__}')
            text = yaml11.scalar_text(value)
            value = text if text is not None else json.dumps(value)
        parameters[str(key)] = value
    return parameters, problems


@dataclass(frozen=True)
class PodContext:
    """The pod a driver-emulated mount pretends to serve."""

    name: str = "demo-pod"
    namespace: str = "default"
    service_account: str = "default"
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)  # audience -> JWT
    token_lifetime: timedelta = timedelta(hours=1)


def driver_attributes(spc: SpcDocument, pod: PodContext) -> dict[str, str]:
    """``attributes`` as the driver sends them: SPC parameters plus kubelet's keys."""
    attributes = dict(spc.parameters)
    attributes.update(
        {
            POD_NAME: pod.name,
            POD_NAMESPACE: pod.namespace,
            POD_UID: pod.uid,
            SERVICE_ACCOUNT: pod.service_account,
            "csi.storage.k8s.io/ephemeral": "false",
            SPC_NAME: spc.name,
        }
    )
    if pod.tokens:
        attributes[TOKENS] = tokens_json(pod.tokens, pod.token_lifetime)
    return attributes


def tokens_json(tokens: Mapping[str, str], lifetime: timedelta = timedelta(hours=1)) -> str:
    """``csi.storage.k8s.io/serviceAccount.tokens`` for ``{audience: token}``."""
    expires = (datetime.now(UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({audience: {"token": token, "expirationTimestamp": expires} for audience, token in tokens.items()})
