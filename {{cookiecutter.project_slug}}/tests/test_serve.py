"""The HTTP API: good batches get the task's answers; malformed ones get a 422 naming the field.

The malformed records are built from the contract (which field is bounded, listed, required,
an integer), so each case breaks the field it names whatever the dataset.
"""

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import (
    SAMPLE,
    bounded_feature,
    categorical_feature,
    integer_feature,
    nullable_feature,
    numeric_feature,
    required_feature,
)
from fastapi.testclient import TestClient
from pydantic import ValidationError, create_model

from {{ cookiecutter.package_name }} import contract, serve
from {{ cookiecutter.package_name }}.serve import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_ERRORS,
    MAX_TEXT_LENGTH,
    MicroBatcher,
    Refusal,
    create_app,
    field_type,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(trained: Path) -> Iterator[TestClient]:
    with TestClient(create_app(trained / "models" / "model")) as client:
        yield client


@pytest.fixture
def records() -> list[dict[str, Any]]:
    rows = pd.read_csv(SAMPLE)[contract.feature_columns()].head(3)
    return [
        {str(name): (None if pd.isna(value) else value) for name, value in row.items()}
        for row in rows.astype(object).to_dict("records")
    ]


def test_a_good_batch_gets_one_prediction_per_record(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    response = client.post("/predict", json={"records": records})

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(records)
    for prediction in predictions:
        if contract.is_classification():
            # every label's probability, by name, summing to one; the label is the likeliest
            probabilities = prediction["probabilities"]
            assert list(probabilities) == list(contract.labels()), prediction
            assert sum(probabilities.values()) == pytest.approx(1.0)
            assert prediction["label"] == max(probabilities, key=probabilities.get)
        else:
            assert set(prediction) == {"prediction"} and np.isfinite(prediction["prediction"])


def test_the_openapi_document_describes_the_answer(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    answer = schemas["Prediction"]["properties"]
    if contract.is_classification():
        assert schemas["Probabilities"]["required"] == list(contract.labels())
        assert set(answer) == {"label", "probabilities"}
    else:
        assert set(answer) == {"prediction"}


def test_a_nullable_field_may_be_null_and_only_it(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    name = nullable_feature() or contract.feature_columns()[0]
    records[0][name] = None

    response = client.post("/predict", json={"records": records})

    # a contract whose every feature is required refuses a null anywhere
    assert response.status_code == (200 if nullable_feature() else 422), response.text


# How a record breaks, each returning the field it broke and the pydantic error types that say
# so (never "extra_forbidden" unless the case is the unknown field: a test must fail for the
# reason its name gives). Where the contract has no such constraint, the same edit to a field
# it leaves free must be accepted, so an empty set of types means "answered with 200".
Breakage = tuple[str, set[str]]
NULL_TYPES = {"int_type", "float_type", "string_type", "bool_type", "literal_error"}
BOUND_TYPES = {"less_than_equal", "less_than", "greater_than_equal", "greater_than"}


def _missing(record: dict[str, Any]) -> Breakage:
    name = contract.feature_columns()[0]  # every field is required in the body, null or not
    record.pop(name)
    return name, {"missing"}


def _wrong_type(record: dict[str, Any]) -> Breakage:
    name = numeric_feature()
    record[name] = "forty"
    return name, {"int_type", "float_type", "bool_type"}


def _float_for_int(record: dict[str, Any]) -> Breakage:
    if name := integer_feature():
        record[name] = 40.5
        return name, {"int_type", "int_from_float"}
    name = numeric_feature()  # no integer feature: 40.5 is an ordinary value
    record[name] = 40.5
    return name, set()


def _null_in_required(record: dict[str, Any]) -> Breakage:
    name = required_feature() or contract.feature_columns()[0]
    record[name] = None
    return name, NULL_TYPES if required_feature() else set()


def _unknown_field(record: dict[str, Any]) -> Breakage:
    record["favourite_colour"] = "blue"
    return "favourite_colour", {"extra_forbidden"}


def _out_of_range(record: dict[str, Any]) -> Breakage:
    if bounded := bounded_feature():
        name, value, _ = bounded
        record[name] = value
        return name, BOUND_TYPES
    name = numeric_feature()  # no bound: any number is a value
    record[name] = 10**9
    return name, set()


def _outside_categories(record: dict[str, Any]) -> Breakage:
    if listed := categorical_feature():
        name, value = listed
        record[name] = value
        return name, {"literal_error"}
    for name in contract.categorical_features():  # none listed: new text is a value
        record[name] = "not-seen-in-training"
    return "every text feature", set()


MALFORMED = {
    "missing-field": _missing,
    "wrong-type": _wrong_type,
    "float-for-int": _float_for_int,
    "null-in-required": _null_in_required,
    "unknown-field": _unknown_field,
    "out-of-range": _out_of_range,
    "outside-categories": _outside_categories,
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_record_the_contract_forbids_gets_422_naming_the_field(
    case: str, client: TestClient, records: list[dict[str, Any]]
) -> None:
    field, expected_types = MALFORMED[case](records[1])

    response = client.post("/predict", json={"records": records})

    if not expected_types:  # the contract does not forbid it here
        assert response.status_code == 200, f"{field}: {response.text}"
        return
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    about_field = [error for error in errors if str(error["loc"][-1]) == field]
    assert about_field, f"no error names {field!r}: {errors}"
    assert {error["type"] for error in about_field} & expected_types, about_field
    assert all(error["loc"][2] == 1 for error in errors), "an error about a record left intact"


def _error_fields(response: Any) -> list[str]:
    return [str(error["loc"][-1]) for error in response.json()["detail"]]


def test_a_whole_number_written_with_a_decimal_point_is_an_integer(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    # given 40.0 where the contract wants an integer (the spec's `integer` allows it, and pandas
    # writes an integer column with nulls so); 40.5 is refused, as the float-for-int case shows.
    # A contract without integers: a float feature, which takes it anyway.
    name = numeric_feature()
    records[0][name] = float(pd.read_csv(SAMPLE)[name].dropna().iloc[0])

    response = client.post("/predict", json={"records": records})

    assert response.status_code == 200, response.text


def test_a_body_that_is_not_text_gets_400(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"records": "\xff"}', headers=JSON)

    assert response.status_code == 400, response.text
    assert set(response.json()) == {"detail"}


def test_an_empty_batch_gets_422(client: TestClient) -> None:
    response = client.post("/predict", json={"records": []})

    assert response.status_code == 422
    assert "records" in _error_fields(response)


def test_an_oversized_batch_gets_422(client: TestClient, records: list[dict[str, Any]]) -> None:
    response = client.post("/predict", json={"records": records[:1] * (MAX_BATCH + 1)})

    assert response.status_code == 422
    assert "records" in _error_fields(response)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_number_that_is_not_finite_gets_422_naming_the_field(
    client: TestClient, records: list[dict[str, Any]], token: str
) -> None:
    # given a JSON body with the token in the first numeric feature (json.dumps writes NaN)
    name = contract.numeric_features()[0]
    records[0][name] = float(token)
    body = json.dumps({"records": records})
    if token == "1e400":  # read as infinity, where json.dumps writes Infinity
        body = body.replace("Infinity", "1e400")

    response = client.post("/predict", content=body, headers=JSON)

    assert response.status_code == 422, response.text
    assert _error_fields(response) == [name]


def test_an_error_quotes_an_excerpt_of_the_input_not_all_of_it(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    # given a megabyte in a field that does not exist, and in one that does
    records[0]["favourite_colour"] = "x" * 1_000_000
    records[1][contract.feature_columns()[0]] = "y" * 1_000_000

    response = client.post("/predict", json={"records": records})

    assert response.status_code == 422
    assert len(response.content) < 2_000, "the error echoes the input"
    quoted = {str(error["loc"][-1]): error["input"] for error in response.json()["detail"]}
    assert quoted["favourite_colour"].endswith("... (1,000,000 characters)")


def test_a_batch_of_bad_records_lists_some_errors_and_counts_them_all(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    bad = [{**records[0], "favourite_colour": "blue"}] * MAX_BATCH

    response = client.post("/predict", json={"records": bad})

    assert response.status_code == 422
    assert len(response.json()["detail"]) == MAX_ERRORS
    assert response.json()["errors"] == MAX_BATCH


def test_a_body_over_the_limit_gets_413_whether_declared_or_streamed(client: TestClient) -> None:
    declared = client.post("/predict", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent in chunks until it is too much
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b" " * 65_536

    streamed = client.post("/predict", content=chunks(), headers=JSON)

    assert declared.status_code == 413 and streamed.status_code == 413, streamed.text
    assert "MAX_BODY_BYTES" in declared.json()["detail"]
    assert client.get("/health").status_code == 200


def test_a_text_fields_length_limit_comes_from_the_contract() -> None:
    # given free text, text with a str_length check, and a listed field whose longest is "bb"
    free, _ = field_type(pa.Column(str))
    short, _ = field_type(pa.Column(str, pa.Check.str_length(max_value=3)))
    listed, _ = field_type(pa.Column(str, pa.Check.isin(["a", "bb"])))
    record = create_model("R", free=(free, ...), short=(short, ...), listed=(listed, ...))

    # then each is refused one character past its own limit, and accepted at it
    for field, value in (
        ("free", "z" * (MAX_TEXT_LENGTH + 1)),
        ("short", "zzzz"),
        ("listed", "ccc"),
    ):
        with pytest.raises(ValidationError) as refused:
            record(**{"free": "z", "short": "z", "listed": "a", field: value})
        assert [(error["loc"], error["type"]) for error in refused.value.errors()] == [
            ((field,), "string_too_long")
        ], field
    assert record(free="z" * MAX_TEXT_LENGTH, short="zzz", listed="bb")
    # and a listed value within the limit but not listed is refused as before
    with pytest.raises(ValidationError, match="literal_error"):
        record(free="z", short="z", listed="cc")
    # and the schema states each limit
    fields = record.model_json_schema()["properties"]
    assert {name: field["maxLength"] for name, field in fields.items()} == {
        "free": MAX_TEXT_LENGTH,
        "short": 3,
        "listed": 2,
    }


def _text_features() -> tuple[dict[str, str], list[str]]:
    """The contract's text features: those that list their categories (with the longest), and
    free text."""
    listed, free = {}, []
    for name in contract.categorical_features():
        checks = contract.columns()[name].checks
        categories = [c.statistics["allowed_values"] for c in checks if c.name == "isin"]
        if categories:
            listed[name] = max(categories[0], key=len)
        else:
            free.append(name)
    return listed, free


def _spec_fields(client: TestClient) -> dict[str, dict[str, Any]]:
    """The request record's fields as the spec states them (a nullable one's non-null branch)."""
    fields = client.get("/openapi.json").json()["components"]["schemas"]["Record"]["properties"]
    return {
        name: next((branch for branch in field.get("anyOf", []) if branch["type"] != "null"), field)
        for name, field in fields.items()
    }


def _too_long(
    client: TestClient, records: list[dict[str, Any]], name: str, longest: str
) -> list[tuple[Any, str]]:
    """The errors for a batch whose first record holds `longest` in `name`, and its second one
    character more."""
    batch = [{**records[0], name: longest}, {**records[1], name: longest + "z"}]
    response = client.post("/predict", json={"records": batch})
    assert response.status_code == 422, response.text
    return [(error["loc"], error["type"]) for error in response.json()["detail"]]


def test_a_listed_field_takes_nothing_longer_than_its_longest_category(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    listed, _ = _text_features()
    spec = _spec_fields(client)
    if not listed:  # then no field takes its limit from categories: all take the default
        text = [field for field in spec.values() if field.get("type") == "string"]
        assert all(field["maxLength"] == MAX_TEXT_LENGTH for field in text), spec
        return

    for name, longest in listed.items():
        errors = _too_long(client, records, name, longest)

        assert errors == [(["body", "records", 1, name], "string_too_long")], (name, errors)
        assert spec[name]["maxLength"] == len(longest), spec[name]


def test_free_text_takes_at_most_max_text_length_characters(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    _, free = _text_features()
    spec = _spec_fields(client)
    if not free:  # then every text field lists its categories: none takes the default
        text = {name: field for name, field in spec.items() if field.get("type") == "string"}
        assert all("enum" in field for field in text.values()), text
        return

    for name in free:
        errors = _too_long(client, records, name, "z" * MAX_TEXT_LENGTH)

        assert errors == [(["body", "records", 1, name], "string_too_long")], (name, errors)
        assert spec[name]["maxLength"] == MAX_TEXT_LENGTH, spec[name]


def test_a_check_the_request_model_cannot_state_gets_the_same_422(
    trained: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a custom check (one pydantic cannot state) that every record fails
    name = contract.feature_columns()[0]
    never = pa.Check(lambda value: False, element_wise=True, ignore_na=False, name="never")
    checks = pa.DataFrameSchema({name: pa.Column(checks=never)})
    monkeypatch.setattr(serve, "residual_checks", lambda: checks)

    with TestClient(create_app(trained / "models" / "model")) as client:
        response = client.post("/predict", json={"records": records})

    # then the 422 has the shape the spec documents, naming the field in each record
    assert response.status_code == 422, response.text
    refusal = Refusal.model_validate(response.json())
    assert [error["loc"] for error in refusal.detail] == [
        ["body", "records", row, name] for row in range(len(records))
    ]
    assert refusal.errors == len(records)


def test_the_spec_documents_the_refusals(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]

    assert {"200", "400", "413", "422"} <= set(responses)


def test_health_and_version(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    version = client.get("/version").json()
    assert version["model_name"] != "unknown"
    assert version["run_id"] != "unknown"


def test_concurrent_requests_share_a_model_call_and_each_gets_its_own_rows() -> None:
    # given a model that is busy with a first request while three more arrive
    calls: list[int] = []
    busy = threading.Event()

    def model(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        busy.wait(timeout=5)
        return frame[["id"]].to_numpy() * 10

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(model, max_rows=100)
        worker = asyncio.create_task(batcher.run())
        first = asyncio.create_task(batcher.predict([{"id": 1}]))
        await asyncio.sleep(0.05)  # the first call is now running
        rest = [batcher.predict([{"id": i} for i in ids]) for ids in ([2, 3], [4], [5, 6, 7])]
        pending = asyncio.gather(first, *rest)
        await asyncio.sleep(0.05)
        busy.set()
        results = await pending
        worker.cancel()
        return results

    # when they are answered
    results = asyncio.run(scenario())

    # then the three waiting requests took one call, and each got its own rows back
    assert calls == [1, 6]
    assert [result[:, 0].tolist() for result in results] == [[10], [20, 30], [40], [50, 60, 70]]


def test_a_failed_model_call_fails_every_request_it_served() -> None:
    def model(frame: pd.DataFrame) -> np.ndarray:
        raise ValueError("model exploded")

    async def scenario() -> list[BaseException | np.ndarray]:
        batcher = MicroBatcher(model, max_rows=100)
        worker = asyncio.create_task(batcher.run())
        results = await asyncio.gather(
            batcher.predict([{"id": 1}]), batcher.predict([{"id": 2}]), return_exceptions=True
        )
        worker.cancel()
        return list(results)

    results = asyncio.run(scenario())

    assert all(isinstance(result, ValueError) for result in results), results


def test_a_request_abandoned_while_waiting_does_not_stop_the_others() -> None:
    def model(frame: pd.DataFrame) -> np.ndarray:
        return frame[["id"]].to_numpy()

    async def scenario() -> np.ndarray:
        batcher = MicroBatcher(model, max_rows=100, wait_seconds=0.05)
        worker = asyncio.create_task(batcher.run())
        abandoned = asyncio.create_task(batcher.predict([{"id": 1}]))
        await asyncio.sleep(0.01)
        abandoned.cancel()  # the client disconnected while its batch was gathering
        result: np.ndarray = await asyncio.wait_for(batcher.predict([{"id": 2}]), timeout=5)
        worker.cancel()
        return result

    assert asyncio.run(scenario())[:, 0].tolist() == [2]
