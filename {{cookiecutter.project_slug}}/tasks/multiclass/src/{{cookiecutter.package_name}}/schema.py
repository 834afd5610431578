"""The data contract: what the model predicts, and what every row must look like.

Change the dataset or the task by changing this file: the task, the target and one field per
column with its type and checks. Everything else (features, the categorical/numeric split,
metrics, plots, the serving API, the drift check) follows from it; `contract.py` says what it
derived and refuses a contract it cannot train on, naming what to change.
"""

from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import DataFrame, Series

TASK: Final = "multiclass"  # binary, multiclass or regression
TARGET: Final = "genus"  # the column the model learns to predict
# Groups the report and the promotion gate compare the model across: a column by its values
# (None), or a numeric column cut at these edges. Empty ({}): no per-group figures.
SEGMENTS: Final = {"sex": None, "year": (1990, 2000)}


class Contract(pa.DataFrameModel):
    """One row per rodent caught at the Portal Project's plots in Arizona, with its genus."""

    year: Series[int] = pa.Field(ge=1977, le=2100)
    month: Series[int] = pa.Field(ge=1, le=12)
    plot_type: Series[str] = pa.Field(
        isin=[
            "Control",
            "Long-term Krat Exclosure",
            "Rodent Exclosure",
            "Short-term Krat Exclosure",
            "Spectab exclosure",
        ]
    )
    sex: Series[str] = pa.Field(isin=["F", "M"], nullable=True)
    hindfoot_length: Series[float] = pa.Field(gt=0, le=100, nullable=True)  # millimetres
    weight: Series[float] = pa.Field(gt=0, le=500, nullable=True)  # grams
    # The target of a classification lists its labels: a label outside them fails validation.
    genus: Series[str] = pa.Field(isin=["Chaetodipus", "Dipodomys", "Onychomys", "Reithrodontomys"])

    class Config:
        coerce = True  # CSV gives strings and floats; the contract says what they must become
        strict = True  # an unexpected column is an error, not something silently trained on

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
