"""The data contract: what the model predicts, and what every row must look like."""

from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import DataFrame, Series

TASK: Final = "regression"
TARGET: Final = "price"
SEGMENTS: Final = {"type": None, "beds": (3, 4)}


class Contract(pa.DataFrameModel):
    """One row per home sold in the Sacramento area, with its price in dollars."""

    city: Series[str]
    zip: Series[str] = pa.Field(str_matches=r"^z\d{5}$")
    beds: Series[int] = pa.Field(ge=0, le=20)
    baths: Series[float] = pa.Field(ge=0, le=20)
    sqft: Series[int] = pa.Field(gt=0)
    type: Series[str] = pa.Field(isin=["Condo", "Multi_Family", "Residential"])
    price: Series[float] = pa.Field(gt=0)
    latitude: Series[float] = pa.Field(ge=-90, le=90)
    longitude: Series[float] = pa.Field(ge=-180, le=180)

    class Config:
        coerce = True
        strict = True

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
