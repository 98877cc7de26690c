"""Request and response models of the REST API (they define the OpenAPI docs)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Plausibility(BaseModel):
    confidence: float = Field(description="the U-Net's mean certainty |2p - 1| (low: not a film)")
    texture: float = Field(description="mean fine detail in grey levels (high: noise, patterns)")
    polarity: float = Field(description="lungs' grey less their surroundings' (> 0: inverted)")
    ok: bool = Field(description="whether the image looks like a frontal chest X-ray")


class Lung(BaseModel):
    area_fraction: float = Field(description="share of the image the lung mask covers")
    components: int = Field(description="lung components found (2 expected)")
    ok: bool = Field(description="whether the mask looks like two plausible lungs")
    plausibility: Plausibility | None = Field(
        None, description="is it a chest X-ray? judged where the mask passed"
    )


class BurnIn(BaseModel):
    enabled: bool = Field(description="whether burned-in overlays were painted over")
    removed_fraction: float = Field(
        description="share of the image inpainted as burned-in text, markers or wires "
        "before segmentation and classification"
    )
    segmented_twice: bool = Field(
        description="whether an overlay beyond the lungs was painted again from the body "
        "alone and the lungs found a second time"
    )
    carved_lung_fraction: float = Field(
        description="share of the U-Net's lung pixels carved out of the mask because a "
        "burned-in mark lay on them: neither the classifier nor the in-lung score sees them"
    )


class Attention(BaseModel):
    in_lung: float | None = Field(
        description="share of positive Grad-CAM mass inside the lung mask; null if the map is empty"
    )
    lung_area_fraction: float = Field(description="what a uniform map would score")
    flag: str | None = Field(description="'outside_lungs' when in_lung is below the threshold")
    threshold: float = Field(
        description="in-lung score below which the flag is set; by default the chance level, "
        "i.e. this image's lung_area_fraction (LUNGGATE_ATTENTION_THRESHOLD fixes it)"
    )


class Overlays(BaseModel):
    lungs: str = Field(description="PNG, base64: the X-ray with the lung outline")
    gradcam: str | None = Field(None, description="PNG, base64: Grad-CAM over the X-ray")
    guided_gradcam: str | None = Field(
        None, description="PNG, base64: Guided Grad-CAM over the X-ray (with ?guided=true)"
    )


class PredictResponse(BaseModel):
    status: str = Field(description="'ok', or 'rejected' when no plausible lungs were found")
    reason: str | None = None
    label: str | None = None
    probabilities: dict[str, float] | None = Field(None, description="calibrated, class -> p")
    burn_in: BurnIn
    lung: Lung
    attention: Attention | None = None
    models: dict
    timings_ms: dict[str, float]
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
