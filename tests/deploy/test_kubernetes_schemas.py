"""Every object each overlay renders is valid: strictly against the Kubernetes schemas, offline."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import OVERLAYS, name_of, render
from tests.deploy.schemas import KUBERNETES_VERSIONS, custom_errors, is_custom, kubernetes_errors


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_objects_with_names(overlay: str) -> None:
    docs = render(overlay)
    assert len(docs) > 20
    names = [name_of(doc) for doc in docs]
    assert len(names) == len(set(names)), "two objects share a kind and a name"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_object_is_valid_for_kubernetes(overlay: str, version: str) -> None:
    problems = {
        name_of(doc): errors
        for doc in render(overlay)
        if not is_custom(doc) and (errors := kubernetes_errors(doc, version))
    }
    assert not problems, problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_has_the_fields_cxm_relies_on(overlay: str) -> None:
    problems = {name_of(doc): errors for doc in render(overlay) if is_custom(doc) and (errors := custom_errors(doc))}
    assert not problems, problems


def test_prod_custom_resources_are_the_expected_ones() -> None:
    kinds = sorted(doc["kind"] for doc in render("prod") if is_custom(doc))
    assert kinds == ["Cluster", "ObjectStore", "PodMonitor", "PrometheusRule", "ScheduledBackup"]
