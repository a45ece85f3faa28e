"""Offline schema validation: Kubernetes objects against the schemas `kubernetes-validate` ships (strict), custom
resources against the fields cxm relies on (their full CRDs are not shipped by any registry the project uses)."""

from __future__ import annotations

import functools
import json
import re
from importlib.resources import files
from typing import Any

import jsonschema
from referencing import Registry, Resource

# The oldest Kubernetes the manifests support and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

_REF = {
    "type": "object",
    "required": ["name", "key"],
    "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
}
_NAMED = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
    "additionalProperties": False,
}
_METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}

CUSTOM: dict[tuple[str, str], dict[str, Any]] = {
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["instances", "storage", "bootstrap", "plugins"],
                "additionalProperties": False,
                "properties": {
                    "instances": {"type": "integer", "minimum": 3},
                    "imageName": {"type": "string"},
                    "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                    "storage": {"type": "object", "required": ["size"]},
                    "walStorage": {"type": "object", "required": ["size"]},
                    "resources": {"type": "object"},
                    "affinity": {"type": "object"},
                    "postgresql": {
                        "type": "object",
                        "properties": {"parameters": {"type": "object", "additionalProperties": {"type": "string"}}},
                    },
                    "bootstrap": {
                        "type": "object",
                        "required": ["initdb"],
                        "properties": {
                            "initdb": {
                                "type": "object",
                                "required": ["database", "owner", "secret"],
                                "additionalProperties": False,
                                "properties": {
                                    "database": {"type": "string"},
                                    "owner": {"type": "string"},
                                    "secret": _NAMED,
                                },
                            }
                        },
                    },
                    "managed": {
                        "type": "object",
                        "properties": {
                            "roles": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name", "ensure", "login", "passwordSecret"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string", "pattern": "^cxm_[a-z]+$"},
                                        "ensure": {"enum": ["present", "absent"]},
                                        "login": {"type": "boolean"},
                                        "passwordSecret": _NAMED,
                                    },
                                },
                            }
                        },
                    },
                    "plugins": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "isWALArchiver": {"type": "boolean"},
                                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        },
                    },
                },
            }
        },
    },
    ("barmancloud.cnpg.io/v1", "ObjectStore"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["configuration"],
                "additionalProperties": False,
                "properties": {
                    "retentionPolicy": {"type": "string", "pattern": "^[1-9][0-9]*[dwm]$"},
                    "configuration": {
                        "type": "object",
                        "required": ["destinationPath"],
                        "properties": {
                            "destinationPath": {"type": "string"},
                            "endpointURL": {"type": "string"},
                            "s3Credentials": {
                                "type": "object",
                                "required": ["accessKeyId", "secretAccessKey"],
                                "properties": {"accessKeyId": _REF, "secretAccessKey": _REF},
                            },
                            "wal": {"type": "object"},
                            "data": {"type": "object"},
                        },
                    },
                },
            }
        },
    },
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["schedule", "cluster", "method"],
                "additionalProperties": False,
                "properties": {
                    # CloudNativePG's schedules have six fields: seconds come first.
                    "schedule": {"type": "string", "pattern": r"^\S+( \S+){5}$"},
                    "immediate": {"type": "boolean"},
                    "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
                    "cluster": _NAMED,
                    "method": {"enum": ["barmanObjectStore", "volumeSnapshot", "plugin"]},
                    "pluginConfiguration": _NAMED,
                },
            }
        },
    },
    ("monitoring.coreos.com/v1", "PodMonitor"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector", "podMetricsEndpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": {"type": "object"},
                    "podMetricsEndpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string"},
                                "relabelings": {"type": "array"},
                            },
                        },
                    },
                },
            }
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "interval": {"type": "string"},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "additionalProperties": False,
                                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                        "properties": {
                                            "alert": {"type": "string"},
                                            "record": {"type": "string"},
                                            "expr": {"type": "string"},
                                            "for": {"type": "string"},
                                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        },
    },
}


def _schema_dir(version: str) -> Any:
    return files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{version}-local-strict")


@functools.cache
def _registry(version: str) -> Registry:
    definitions = json.loads(_schema_dir(version).joinpath("_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()  # type: ignore[no-any-return]


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    # The file naming of kubernetes-validate: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version).joinpath(f"{kind.lower()}-{group_version}.json")
    if not path.is_file():
        raise LookupError(f"no Kubernetes {version} schema for {kind} {api_version}")
    schema = json.loads(path.read_text())
    registry = Resource.from_contents(schema) @ _registry(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def is_custom(doc: dict[str, Any]) -> bool:
    """Whether an object is a custom resource cxm checks with its own partial schema."""
    return (doc["apiVersion"], doc["kind"]) in CUSTOM


def kubernetes_errors(doc: dict[str, Any], version: str) -> list[str]:
    """Strict schema errors of a built-in object for one Kubernetes version."""
    validator = _validator(version, doc["apiVersion"], doc["kind"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def custom_errors(doc: dict[str, Any]) -> list[str]:
    """Errors of a custom resource against the fields cxm relies on."""
    schema = {**CUSTOM[(doc["apiVersion"], doc["kind"])]}
    schema["properties"] = {**schema["properties"], "metadata": _METADATA}
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
