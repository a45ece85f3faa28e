"""API keys: format, hashing, scopes."""

import pytest

from cxm_gateway.domain.keys import InvalidScopes, check_scopes, digest_of, generate_key, matches, parse_lookup


def test_a_new_key_has_a_visible_prefix_and_256_bits_of_secret() -> None:
    key = generate_key()
    assert key.token.startswith(f"cxm_{key.lookup}_")
    assert len(key.token.removeprefix(f"cxm_{key.lookup}_")) == 43  # 32 bytes, base64url (may contain "_")
    assert parse_lookup(key.token) == key.lookup


def test_only_the_sha256_digest_is_kept_and_it_verifies_the_key() -> None:
    key = generate_key()
    assert key.digest == digest_of(key.token)
    assert key.token not in key.digest
    assert matches(key.token, key.digest)
    assert not matches(key.token[:-1] + ("A" if key.token[-1] != "A" else "B"), key.digest)


@pytest.mark.parametrize("token", ["", "cxm_", "Bearer x", "cxm_abc_def", "cxm_aaaaaaaaaaaa_short"])
def test_malformed_keys_have_no_lookup(token: str) -> None:
    assert parse_lookup(token) is None


def test_scopes_are_checked_against_the_catalogue() -> None:
    assert check_scopes(["ingest:write", "admin", "admin"]) == ("admin", "ingest:write")
    with pytest.raises(InvalidScopes, match="root"):
        check_scopes(["root"])
    with pytest.raises(InvalidScopes):
        check_scopes([])
