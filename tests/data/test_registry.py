"""Every registered adapter, run on its fake release (tests/data/releases.py): a new adapter is
tested by being registered and given a fake release, with no test of its own to write."""

from __future__ import annotations

import pytest

from radbench.config.schema import DataSpec
from radbench.data import ADAPTERS, get_adapter
from radbench.data.decode import load_mask, load_rgb
from radbench.data.fetch import BY_HAND, DOWNLOADS
from radbench.errors import ConfigError
from tests.data.releases import FAKE_RELEASES


def check_adapter(name: str, root) -> list:
    """The adapter reads its fake release: two or more labels, every image and mask decodes,
    and its fetch name is one `radbench data fetch` knows."""
    adapter = get_adapter(name)
    assert adapter.name == name and adapter.layouts
    assert name in FAKE_RELEASES, f"add a fake release for adapter {name!r} to " \
                                  f"tests/data/releases.py (FAKE_RELEASES)"
    spec = DataSpec(adapter=name, **FAKE_RELEASES[name](root))
    records = [r for r in adapter.reader(root, spec) if not r.missing]
    assert len({r.raw_label for r in records}) >= 2
    for record in records:
        assert load_rgb(record.path, 24).shape == (24, 24, 3)
        if record.masks:
            assert load_mask(record.masks, 24).shape == (24, 24)
    if adapter.fetch is not None:
        assert adapter.fetch in BY_HAND or adapter.fetch in DOWNLOADS
    return records


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_registered_adapter_reads_its_fake_release(name, tmp_path):
    check_adapter(name, tmp_path / name)


def test_an_unknown_adapter_is_one_line_naming_the_registered_ones():
    with pytest.raises(ConfigError, match=r"^tasks/x.yaml: key 'data.adapter': unknown adapter "
                                          r"'dcm'; expected one of busi, ddti, ddti_crops"):
        get_adapter("dcm", "tasks/x.yaml: key 'data.adapter'")


def test_masks_are_read_where_the_release_has_them(tmp_path):
    for name in ("busi", "ddti", "ddti_crops"):
        assert all(r.masks for r in check_adapter(name, tmp_path / name)), name
