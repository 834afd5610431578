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

TASK: Final = "binary"  # binary, multiclass or regression
TARGET: Final = "income"  # the column the model learns to predict
POSITIVE_LABEL: Final = ">50K"  # binary only: the label whose probability the model gives
# Groups the report and the promotion gate compare the model across: a column by its values
# (None), or a numeric column cut at these edges. Empty ({}): no per-group figures.
SEGMENTS: Final = {"sex": None, "race": None, "age": (25, 45, 65)}


class Contract(pa.DataFrameModel):
    """One row per person from the 1994 US census (UCI Adult), labelled with their income band."""

    age: Series[int] = pa.Field(ge=16, le=100)
    workclass: Series[str] = pa.Field(nullable=True)
    education: Series[str]
    education_num: Series[int] = pa.Field(ge=1, le=16)
    marital_status: Series[str]
    occupation: Series[str] = pa.Field(nullable=True)
    relationship: Series[str] = pa.Field(
        isin=["Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife"]
    )
    race: Series[str]
    sex: Series[str] = pa.Field(isin=["Female", "Male"])
    capital_gain: Series[int] = pa.Field(ge=0)
    capital_loss: Series[int] = pa.Field(ge=0)
    hours_per_week: Series[int] = pa.Field(ge=1, le=99)
    native_country: Series[str] = pa.Field(nullable=True)
    # The target of a classification lists its labels: a label outside them fails validation.
    income: Series[str] = pa.Field(isin=["<=50K", ">50K"])

    class Config:
        coerce = True  # CSV gives strings and floats; the contract says what they must become
        strict = True  # an unexpected column is an error, not something silently trained on

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
