"""The data contract: what the model predicts, and what every row must look like."""

from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import DataFrame, Series

TASK: Final = "multiclass"
TARGET: Final = "species"
SEGMENTS: Final = {"island": None, "sex": None}


class Contract(pa.DataFrameModel):
    """One row per penguin measured in the Palmer Archipelago, with its species."""

    species: Series[str] = pa.Field(isin=["Adelie", "Chinstrap", "Gentoo"])
    island: Series[str] = pa.Field(isin=["Biscoe", "Dream", "Torgersen"])
    bill_length_mm: Series[float] = pa.Field(gt=0, le=100, nullable=True)
    bill_depth_mm: Series[float] = pa.Field(gt=0, le=50, nullable=True)
    flipper_length_mm: Series[float] = pa.Field(gt=0, le=300, nullable=True)
    body_mass_g: Series[float] = pa.Field(gt=0, le=10000, nullable=True)
    sex: Series[str] = pa.Field(isin=["female", "male"], nullable=True)
    year: Series[int] = pa.Field(ge=2007, le=2100)

    class Config:
        coerce = True
        strict = True

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
