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

TASK: Final = "regression"  # binary, multiclass or regression
TARGET: Final = "avg_price_per_room"  # the column the model learns to predict
# Groups the report and the promotion gate compare the model across: a column by its values
# (None), or a numeric column cut at these edges. Empty ({}): no per-group figures.
SEGMENTS: Final = {"customer_type": None, "is_repeated_guest": None}


class Contract(pa.DataFrameModel):
    """One row per stay booked at a hotel in Lisbon (2016-2017), with its average nightly rate."""

    # The target of a regression is a number; kept above zero, the percentage error is defined.
    avg_price_per_room: Series[float] = pa.Field(gt=0)  # euros a night
    lead_time: Series[int] = pa.Field(ge=0)  # days between booking and arrival
    stays_in_weekend_nights: Series[int] = pa.Field(ge=0)
    stays_in_week_nights: Series[int] = pa.Field(ge=0)
    adults: Series[int] = pa.Field(ge=0, le=50)
    children: Series[int] = pa.Field(ge=0, le=50)
    babies: Series[int] = pa.Field(ge=0, le=50)
    meal: Series[str] = pa.Field(
        isin=[
            "bed_and_breakfast",
            "breakfast_and_one_other_meal",
            "breakfast_lunch_and_dinner",
            "no_meal_package",
        ]
    )
    country: Series[str] = pa.Field(nullable=True)  # the guest's, as an ISO 3166 code
    market_segment: Series[str] = pa.Field(
        isin=["corporate", "direct", "groups", "offline_travel_agent", "online_travel_agent"]
    )
    distribution_channel: Series[str] = pa.Field(isin=["corporate", "direct", "ta_to"])
    is_repeated_guest: Series[int] = pa.Field(isin=[0, 1])
    previous_cancellations: Series[int] = pa.Field(ge=0)
    previous_bookings_not_canceled: Series[int] = pa.Field(ge=0)
    reserved_room_type: Series[str]
    assigned_room_type: Series[str]
    booking_changes: Series[int] = pa.Field(ge=0)
    agent: Series[str]  # "not_applicable" when booked directly
    company: Series[str]  # "not_applicable" for private stays
    days_in_waiting_list: Series[int] = pa.Field(ge=0)
    customer_type: Series[str] = pa.Field(
        isin=["contract", "group", "transient", "transient_party"]
    )
    required_car_parking_spaces: Series[int] = pa.Field(ge=0)
    total_of_special_requests: Series[int] = pa.Field(ge=0)
    arrival_date_num: Series[float] = pa.Field(ge=2000, le=2100)  # year and fraction of it
    near_christmas: Series[int] = pa.Field(isin=[0, 1])
    near_new_years: Series[int] = pa.Field(isin=[0, 1])
    historical_adr: Series[float] = pa.Field(gt=0)  # the hotel's past average rate that week

    class Config:
        coerce = True  # CSV gives strings and floats; the contract says what they must become
        strict = True  # an unexpected column is an error, not something silently trained on

    @pa.dataframe_check(error="the data has no rows")
    def has_rows(cls, df: pd.DataFrame) -> bool:
        return len(df) > 0


ContractFrame = DataFrame[Contract]
