"""Request and response models of the REST API (they define the OpenAPI docs).

A prediction is the pipeline's own typed result, extended: the API adds no field of its own
to what the pipeline says.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lunggate.pipeline.result import Result


class Overlays(BaseModel):
    lungs: str = Field(description="PNG, base64: the X-ray with the lung outline")
    gradcam: str | None = Field(None, description="PNG, base64: Grad-CAM over the X-ray")
    guided_gradcam: str | None = Field(
        None, description="PNG, base64: Guided Grad-CAM over the X-ray (with ?guided=true)"
    )


class PredictResponse(Result):
    """The pipeline's result (``pipeline.result.Result``) with the decoded image's facts
    and, on request, the overlays."""

    image: dict = Field(description="decoded size and format (no patient data)")
    overlays: Overlays | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable error code")
    message: str = Field(description="what is wrong, in words")


class ErrorResponse(BaseModel):
    error: ErrorBody


class BatchItem(BaseModel):
    filename: str
    result: PredictResponse | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    items: list[BatchItem]


class Health(BaseModel):
    status: str
    models_loaded: bool
    version: str
