"""Atomic Parquet writing of tables whose text columns also hold numbers."""

from __future__ import annotations

import pandas as pd

from gridstudy.studies.io import write_parquet


def test_a_column_of_numbered_and_named_elements_is_written_as_text(tmp_path):
    # an imported case numbers its buses (448), the site names its own ("... collector"): pyarrow
    # refuses such a column as it is; written as text, every value reads back as its text
    df = pd.DataFrame({"name": [448, "Megapack plant collector", None], "vm_pu": [1.02, 1.01, 1.0]})
    write_parquet(tmp_path / "t.parquet", df)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["name"].tolist() == ["448", "Megapack plant collector", None]
    assert back["vm_pu"].tolist() == [1.02, 1.01, 1.0]
    assert df["name"].tolist()[0] == 448  # the caller's frame is left as it was
