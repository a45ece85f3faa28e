"""Merging the services' API documents."""

from cxm_gateway.openapi import merge

OWN = {"openapi": "3.1.0", "paths": {"/v1/api-keys": {"get": {}}}, "components": {"schemas": {"Same": {"a": 1}}}}


def test_takes_only_the_paths_each_service_owns_and_secures_them() -> None:
    ingest = {"paths": {"/v1/feedback": {"post": {}}, "/healthz": {"get": {}}, "/v1/insights/x": {"get": {}}}}
    doc = merge(OWN, {"ingest": ingest})
    assert set(doc["paths"]) == {"/v1/api-keys", "/v1/feedback"}
    assert doc["paths"]["/v1/feedback"]["post"]["security"] == [{"apiKey": []}]


def test_clashing_schemas_are_renamed_and_their_references_follow() -> None:
    ingest = {
        "paths": {"/v1/feedback": {"post": {"body": {"$ref": "#/components/schemas/Same"}}}},
        "components": {"schemas": {"Same": {"b": 2}}},
    }
    doc = merge(OWN, {"ingest": ingest})
    assert doc["components"]["schemas"]["Same"] == {"a": 1}
    assert doc["components"]["schemas"]["IngestSame"] == {"b": 2}
    assert doc["paths"]["/v1/feedback"]["post"]["body"]["$ref"] == "#/components/schemas/IngestSame"
