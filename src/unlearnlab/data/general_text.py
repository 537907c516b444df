"""A small sample of plain English prose for measuring a real model's general language modelling.

The grammar of ``data.english`` writes sentences for the synthetic tier ("the small dog sees a
cat."); a pretrained model finds them odd, so its cross-entropy there says little about damage
to its English. These paragraphs are ordinary encyclopaedic prose on everyday topics (none about
films), written for this repository; cross-entropy over them, before and after unlearning, shows
whether an edit hurt general text.
"""

from __future__ import annotations

from unlearnlab.core.batching import TokenSet, pad_token_id, token_ids

PARAGRAPHS: tuple[str, ...] = (
    "Water covers about seventy percent of the surface of the Earth. Most of it is salt water in the "
    "oceans, while fresh water is found in rivers, lakes, glaciers and underground aquifers.",
    "The heart is a muscular organ that pumps blood through the body. Arteries carry blood away from "
    "the heart, and veins bring it back, so that oxygen and nutrients reach every cell.",
    "Bread is made by mixing flour, water, salt and yeast into a dough. The yeast produces gas as it "
    "feeds on sugars, which makes the dough rise before it is baked in a hot oven.",
    "The moon orbits the Earth roughly once every twenty-seven days. Its gravity pulls on the oceans "
    "and causes the tides, which rise and fall twice a day along most coastlines.",
    "Bees collect nectar and pollen from flowers. As they move from plant to plant, they carry pollen "
    "with them, which helps many crops and wild plants to produce seeds and fruit.",
    "A bicycle turns the motion of the rider's legs into forward movement. The pedals drive a chain, "
    "and the chain turns the rear wheel, while gears let the rider climb hills with less effort.",
    "Libraries lend books, newspapers and recordings to the public. Many also offer quiet places to "
    "study, computers for people who do not have one at home, and classes for children.",
    "Rain forms when water vapour in the air cools and condenses into droplets. When the droplets "
    "grow heavy enough, they fall to the ground, filling rivers and watering fields.",
    "Trains carry passengers and goods between cities. They run on steel rails, which allow heavy "
    "loads to move with little friction, and many modern lines are powered by electricity.",
    "Learning a new language takes regular practice. Reading, listening and speaking every day help "
    "the brain remember new words and grow used to the grammar of the language.",
    "Volcanoes form where molten rock rises from deep inside the Earth. An eruption can release "
    "lava, ash and gas, and over time the cooled rock can build mountains and islands.",
    "Coffee is brewed from the roasted seeds of the coffee plant. It contains caffeine, which many "
    "people drink in the morning because it makes them feel more awake and alert.",
)


def general_text_tokens(tokenizer, paragraphs: tuple[str, ...] = PARAGRAPHS) -> TokenSet:
    """The paragraphs as a ``TokenSet`` (empty prompts: every token after the first is scored by
    ``evals.exact_match.cross_entropy``)."""
    return TokenSet([[] for _ in paragraphs], [token_ids(tokenizer, p) for p in paragraphs],
                    pad_id=pad_token_id(tokenizer))
