"""The data contract: one pandera model that every stage, and later serving and drift, reads.

Change the dataset by changing this file: the columns, their types and their checks. The
feature lists, the target and the categorical/numeric split are derived from it, so nothing
else needs an edit.
"""

from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import DataFrame, Series

TARGET: Final = "income"
NEGATIVE_LABEL: Final = "<=50K"
POSITIVE_LABEL: Final = ">50K"
LABELS: Final = (NEGATIVE_LABEL, POSITIVE_LABEL)


class CensusIncome(pa.DataFrameModel):
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
    income: Series[str] = pa.Field(isin=list(LABELS))

    class Config:
        coerce = True  # CSV gives strings and floats; the contract says what they must become
        strict = True  # an unexpected column is an error, not something silently trained on

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


CensusFrame = DataFrame[CensusIncome]


def feature_columns() -> list[str]:
    """Every column of the contract except the target, in contract order."""
    return [name for name in CensusIncome.to_schema().columns if name != TARGET]


def categorical_features() -> list[str]:
    columns = CensusIncome.to_schema().columns
    return [name for name in feature_columns() if str(columns[name].dtype) == "str"]


def numeric_features() -> list[str]:
    categorical = set(categorical_features())
    return [name for name in feature_columns() if name not in categorical]


def nullable_columns() -> list[str]:
    columns = CensusIncome.to_schema().columns
    return [name for name, column in columns.items() if column.nullable]
