"""The data contract: what the model predicts, and what every row must look like."""

from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import DataFrame, Series

TASK: Final = "binary"
TARGET: Final = "Status"
POSITIVE_LABEL: Final = "bad"  # the applicant did not repay
SEGMENTS: Final = {"Age": (30, 50), "Marital": None}


class Contract(pa.DataFrameModel):
    """One row per consumer credit application, with whether it was repaid."""

    Status: Series[str] = pa.Field(isin=["good", "bad"])
    Seniority: Series[int] = pa.Field(ge=0, le=80)  # years with the current employer
    Home: Series[str] = pa.Field(
        isin=["ignore", "other", "owner", "parents", "priv", "rent"], nullable=True
    )
    Time: Series[int] = pa.Field(ge=1, le=120)  # months the loan runs
    Age: Series[int] = pa.Field(ge=18, le=100)
    Marital: Series[str] = pa.Field(
        isin=["divorced", "married", "separated", "single", "widow"], nullable=True
    )
    Records: Series[str] = pa.Field(isin=["no", "yes"])
    Job: Series[str] = pa.Field(isin=["fixed", "freelance", "others", "partime"], nullable=True)
    Expenses: Series[int] = pa.Field(ge=0)
    Income: Series[float] = pa.Field(ge=0, nullable=True)
    Assets: Series[float] = pa.Field(ge=0, nullable=True)
    Debt: Series[float] = pa.Field(ge=0, nullable=True)
    Amount: Series[int] = pa.Field(gt=0)
    Price: Series[int] = pa.Field(gt=0)

    class Config:
        coerce = True
        strict = True

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
