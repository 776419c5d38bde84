"""Typed views of results: recommended items with their explanations, convertible to pandas when it is installed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional


@dataclass(frozen=True)
class Recommendation:
    """One item (or user, for ``RECOMMEND … USERS FOR ITEM``) of a ``RECOMMEND`` result."""

    id: str
    score: float
    model: str
    title: Optional[str] = None
    explanation: Optional[str] = None
    provenance: Optional[Dict[str, Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, item: Dict[str, Any]) -> "Recommendation":
        known = {"id", "score", "model", "title", "explanation", "provenance"}
        return cls(
            id=str(item["id"]),
            score=float(item.get("score", 0.0)),
            model=str(item.get("model", "")),
            title=item.get("title"),
            explanation=item.get("explanation"),
            provenance=item.get("provenance"),
            extra={key: value for key, value in item.items() if key not in known},
        )


class Recommendations(List[Recommendation]):
    """The items of a ``RECOMMEND`` answer, in rank order, with the rest of the result in ``result``."""

    def __init__(self, items: Iterable[Recommendation], result: Dict[str, Any]):
        super().__init__(items)
        self.result = result

    @classmethod
    def from_result(cls, result: Any) -> "Recommendations":
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            from .errors import BadResponse

            raise BadResponse("a RECOMMEND result has an \"items\" list")
        return cls((Recommendation.from_wire(item) for item in result["items"]), result)

    def to_dataframe(self):
        """A pandas DataFrame with one row per item (rank, id, score, model, title, explanation). Needs pandas."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install 'recdb[pandas]'") from None
        rows = []
        for rank, item in enumerate(self, start=1):
            row = asdict(item)
            row.pop("extra")
            row["rank"] = rank
            rows.append(row)
        columns = ["rank", "id", "score", "model", "title", "explanation", "provenance"]
        return pandas.DataFrame(rows, columns=columns)
