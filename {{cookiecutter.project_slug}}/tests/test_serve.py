"""The HTTP API: good batches get predictions; malformed ones get a 422 naming the field."""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.schema import LABELS, feature_columns
from {{ cookiecutter.package_name }}.serve import MAX_BATCH, MicroBatcher, create_app


@pytest.fixture(scope="module")
def client(trained: Path) -> Iterator[TestClient]:
    with TestClient(create_app(trained / "models" / "model")) as client:
        yield client


@pytest.fixture
def records() -> list[dict[str, Any]]:
    rows = pd.read_csv(SAMPLE)[feature_columns()].head(3)
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
    assert all(p["label"] in LABELS and 0 <= p["probability"] <= 1 for p in predictions)


def test_a_nullable_field_may_be_null(client: TestClient, records: list[dict[str, Any]]) -> None:
    records[0]["workclass"] = None

    assert client.post("/predict", json={"records": records}).status_code == 200


def _error_fields(response: Any) -> list[str]:
    return [str(error["loc"][-1]) for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda record: record.pop("age"), "age"),
        (lambda record: record.update(age="forty"), "age"),
        (lambda record: record.update(age=40.5), "age"),
        (lambda record: record.update(sex=None), "sex"),
        (lambda record: record.update(favourite_colour="blue"), "favourite_colour"),
        (lambda record: record.update(age=250), "age"),
        (lambda record: record.update(sex="unknown"), "sex"),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "float-for-int",
        "null-in-required",
        "unknown-field",
        "out-of-range",
        "outside-categories",
    ],
)
def test_a_malformed_record_gets_422_naming_the_field(
    change: Any, field: str, client: TestClient, records: list[dict[str, Any]]
) -> None:
    change(records[1])

    response = client.post("/predict", json={"records": records})

    assert response.status_code == 422, response.text
    assert field in _error_fields(response), response.json()


def test_an_empty_batch_gets_422(client: TestClient) -> None:
    response = client.post("/predict", json={"records": []})

    assert response.status_code == 422
    assert "records" in _error_fields(response)


def test_an_oversized_batch_gets_422(client: TestClient, records: list[dict[str, Any]]) -> None:
    response = client.post("/predict", json={"records": records[:1] * (MAX_BATCH + 1)})

    assert response.status_code == 422
    assert "records" in _error_fields(response)


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
        result = await asyncio.wait_for(batcher.predict([{"id": 2}]), timeout=5)
        worker.cancel()
        return result

    assert asyncio.run(scenario())[:, 0].tolist() == [2]
