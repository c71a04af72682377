"""What a captioner's plausible values become in the payload: bad fields, values and
probabilities are dropped, nothing else is touched."""

from __future__ import annotations

from ingest.attributes.stored import Annotator, likely_values


def test_only_known_fields_nonempty_values_and_probabilities_in_range_are_kept():
    given = {
        "color": {" 黑色 ": 0.7, "": 0.2, "藏青色": 1.5, "蓝色": -0.1, "灰色": "0.3", "白色": 0.1},
        "category": {"衬衫": 0.9},
        "made_up": {"x": 0.9},
        "gender": {"男士": 0.0},
        "usage": "休闲",
    }
    assert likely_values(given) == {"color": {"黑色": 0.7, "白色": 0.1}, "category": {"衬衫": 0.9}}


def test_a_generated_payload_carries_the_cleaned_values_and_none_without_them():
    fields = Annotator().of_generated("男士衬衫", {"gender": "男"}, "c1", {"category": {"衬衫": 1}})
    assert fields["likely"] == {"category": {"衬衫": 1.0}}
    assert fields["attributes"]["gender"] == "男士"
    assert Annotator().of_generated(None, {}, "c1")["likely"] == {}
