"""``create_app()``: the FastAPI application. Routes only translate HTTP to pipeline calls.

The pipeline loads once at startup into ``app.state``; bad input becomes a JSON error
``{"error": {"code", "message"}}`` with a 4xx status, never a 500.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from lunggate.api.access import RequireKey
from lunggate.api.limits import BodySizeLimit
from lunggate.api.schemas import (
    BatchItem,
    BatchResponse,
    ErrorBody,
    ErrorResponse,
    Health,
    PredictResponse,
)
from lunggate.core import CLASS_NAMES, __version__
from lunggate.core.environment import ATTENTION_THRESHOLD, env_float
from lunggate.core.imageio import DecodedImage, ImageInputError, decode
from lunggate.core.paths import REPORTS_DIR, SPLIT_FILE
from lunggate.pipeline.analyze import Pipeline, PipelineConfig
from lunggate.pipeline.render import overlays, png_bytes
from lunggate.pipeline.result import Result

STATIC = Path(__file__).parent / "static"
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "upload_too_large",
    415: "not_an_image",
    422: "invalid_request",
}
INPUT_STATUS = {"not_an_image": 415, "unreadable_image": 422, "implausible_image": 422}


@dataclass(frozen=True)
class ApiConfig:
    """Limits and access of the API; ``from_env`` reads ``LUNGGATE_*`` variables."""

    max_upload_bytes: int = 25 * 1024 * 1024
    max_batch: int = 16
    api_key: str | None = None
    request_budget_s: float = 60.0
    """Time one request may wait for its turn to be analysed (a batch is analysed in one
    turn, as one pipeline batch): a request that has not started when it runs out is
    answered with ``time_budget_exceeded``."""
    concurrent_analyses: int = os.cpu_count() or 2
    """Analyses at once: more only share the same cores and hold more images in memory."""
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    @classmethod
    def from_env(cls) -> ApiConfig:
        return cls(
            max_upload_bytes=int(os.environ.get("LUNGGATE_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)),
            api_key=os.environ.get("LUNGGATE_API_KEY") or None,
            request_budget_s=env_float("LUNGGATE_REQUEST_BUDGET_S") or 60.0,
            pipeline=PipelineConfig(attention_threshold=env_float(ATTENTION_THRESHOLD)),
        )


class ApiError(Exception):
    """An error to return as JSON with a status code and stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status)


class Budget:
    """One request's time budget and its turn among ``ApiConfig.concurrent_analyses``."""

    def __init__(self, seconds: float, turns: threading.BoundedSemaphore) -> None:
        self.seconds, self.turns = seconds, turns
        self.end = time.monotonic() + seconds

    def _spent(self) -> ApiError:
        return ApiError(
            503, "time_budget_exceeded", f"the request's time budget of {self.seconds:g} s ran out"
        )

    @contextmanager
    def turn(self):
        """Wait for a free analysis slot within the budget, then hold it."""
        if not self.turns.acquire(timeout=max(0.0, self.end - time.monotonic())):
            raise self._spent()
        try:
            if time.monotonic() > self.end:
                raise self._spent()
            yield
        finally:
            self.turns.release()


def _analyze_uploads(
    pipeline: Pipeline,
    uploads: Sequence[bytes],
    with_overlays: bool,
    budget: Budget,
    guided: bool = False,
) -> list[PredictResponse | ApiError]:
    """Decode, analyse (in one batch, in one turn) and shape each upload; a bad one
    becomes its ``ApiError`` in its place, and the others are still answered.

    ``guided`` adds the Guided Grad-CAM overlay (and so the overlays)."""
    with budget.turn():
        decoded: list[DecodedImage | ApiError] = []
        for data in uploads:
            try:
                decoded.append(decode(data))
            except ImageInputError as exc:
                decoded.append(ApiError(INPUT_STATUS.get(exc.code, 422), exc.code, str(exc)))
        pixels = [d if isinstance(d, ApiError) else d.pixels for d in decoded]
        results = pipeline.analyze_some(pixels, guided)
    return [
        r if isinstance(r, ApiError) else _response(d, r, with_overlays or guided)
        for d, r in zip(decoded, results, strict=True)
    ]


def _response(
    decoded: DecodedImage, result: Result, with_overlays: bool
) -> PredictResponse | ApiError:
    """One analysed upload as the API answers it: the result, the image's facts and the
    overlays when asked; a rejected image as its error."""
    if result.status != "ok":
        plausibility = result.lung.plausibility
        code = "not_a_chest_xray" if plausibility and not plausibility.ok else "no_lungs"
        return ApiError(422, code, result.reason or "no plausible lungs found")
    payload = result.to_dict()
    h, w = decoded.pixels.shape
    payload["image"] = {"width": w, "height": h, "format": decoded.format, **decoded.info}
    if with_overlays:
        pictures = overlays(decoded.pixels, result)
        payload["overlays"] = {
            k: base64.b64encode(png_bytes(v)).decode() for k, v in pictures.items()
        }
    return PredictResponse.model_validate(payload)


def model_card(pipeline: Pipeline) -> dict:
    """Classes, models, data, split and the test metrics the shipped weights scored."""
    reports = {}
    for name in ("segmentation", "classification_masked", "classification_raw"):
        path = REPORTS_DIR / f"{name}.json"
        if path.is_file():
            report = json.loads(path.read_text())
            reports[name] = {k: report[k] for k in report if k not in {"per_class", "config"}}
    return {
        "classes": list(CLASS_NAMES),
        "models": pipeline.models.model_dump(),
        "training_data": "cxr4: 4,793 chest X-rays (COVID-19 Radiography Database, COVID-QU-Ex) "
        "with lung masks. Viral_Pneumonia images are all paediatric; Lung_Opacity is a proxy "
        "label.",
        "split": {"file": SPLIT_FILE.name, "scheme": "stratified 70/15/15 by class, fixed seed"},
        "test_metrics": reports,
        "intended_use": "Research on explainable, artifact-robust chest X-ray classification. "
        "Not a medical device; not for diagnosis or patient management.",
    }


def create_app(config: ApiConfig | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    """Build the app; ``pipeline`` may be injected (tests), else it loads at startup."""
    config = config or ApiConfig.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pipeline = pipeline or Pipeline.load(config.pipeline)
        yield

    app = FastAPI(
        title="lunggate",
        version=__version__,
        lifespan=lifespan,
        description="Lung-gated, explainable chest X-ray classification (research use).",
    )
    app.add_middleware(BodySizeLimit, max_bytes=config.max_upload_bytes)
    app.add_middleware(RequireKey, key=config.api_key)  # outermost: before the body is read

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(422, "invalid_request", problems)

    responses = {code: {"model": ErrorResponse} for code in (401, 413, 415, 422, 503)}
    turns = threading.BoundedSemaphore(config.concurrent_analyses)

    @app.get("/", include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/v1/health", response_model=Health)
    def health(request: Request) -> Health:
        loaded = getattr(request.app.state, "pipeline", None) is not None
        return Health(
            status="ok" if loaded else "loading", models_loaded=loaded, version=__version__
        )

    @app.get("/v1/models")
    def models(request: Request) -> dict:
        return model_card(request.app.state.pipeline)

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        responses=responses,
    )
    def predict(
        request: Request,
        file: Annotated[UploadFile, File(description="PNG, JPEG or DICOM")],
        overlays: Annotated[bool, Query(description="include base64 PNG overlays")] = False,
        guided: Annotated[
            bool, Query(description="add a Guided Grad-CAM overlay (slower; implies overlays)")
        ] = False,
    ):
        budget = Budget(config.request_budget_s, turns)
        data = file.file.read()
        (answer,) = _analyze_uploads(request.app.state.pipeline, [data], overlays, budget, guided)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    @app.post(
        "/v1/predict/batch",
        response_model=BatchResponse,
        responses=responses,
    )
    def predict_batch(
        request: Request,
        files: Annotated[list[UploadFile], File(description="PNG, JPEG or DICOM files")],
        overlays: Annotated[bool, Query(description="include base64 PNG overlays")] = False,
        guided: Annotated[
            bool, Query(description="add a Guided Grad-CAM overlay (slower; implies overlays)")
        ] = False,
    ) -> BatchResponse:
        if len(files) > config.max_batch:
            raise ApiError(422, "batch_too_large", f"at most {config.max_batch} files per batch")
        budget = Budget(config.request_budget_s, turns)
        uploads = [upload.file.read() for upload in files]
        answers = _analyze_uploads(request.app.state.pipeline, uploads, overlays, budget, guided)
        items = []
        for upload, answer in zip(files, answers, strict=True):
            name = upload.filename or "upload"
            if isinstance(answer, ApiError):
                error = ErrorBody(code=answer.code, message=answer.message)
                items.append(BatchItem(filename=name, error=error))
            else:
                items.append(BatchItem(filename=name, result=answer))
        return BatchResponse(items=items)

    return app
