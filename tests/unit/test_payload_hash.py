"""The append path's payload hash (from canonical texts) equals the verifier's definition."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from store.hashing import canonical_json, canonical_text, payload_hash, payload_hash_of_canonical

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    data=st.dictionaries(st.text(), JSON, max_size=4),
    metadata=st.dictionaries(st.text(), JSON, max_size=3),
    type_=st.text(min_size=1),
    schema_version=st.integers(min_value=1, max_value=2**31 - 1),
    valid_from=st.none() | st.dates(),
    valid_to=st.none() | st.dates(),
)
def test_the_append_paths_hash_is_the_verifiers_hash(
    data: dict[str, Any],
    metadata: dict[str, Any],
    type_: str,
    schema_version: int,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
):
    common: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "type": type_,
        "schema_version": schema_version,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    assert payload_hash(**common, data=data, metadata=metadata) == payload_hash_of_canonical(
        **common, data_json=canonical_text(data), metadata_json=canonical_text(metadata)
    )


FLOATY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(value=FLOATY_JSON)
def test_canonical_text_is_canonical_json(value: Any):
    """The append path's encoder spells every JSON value as the verifier's does."""
    assert canonical_text(value) == canonical_json(value).decode()
