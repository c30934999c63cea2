"""The fixed prompt sets lineage's representation and output modes run models on.

Written for openward (no third-party text, so no licence to carry): 64 plain English
sentences on everyday topics of 8 to 20 words (the representation mode's inputs), and 64
short open requests for chat models (the output mode's). The sets are versioned: changing
one changes :data:`PROMPTS_SHA256`; the calibration figures in docs/lineage.md were measured
on this version, and every report names the version it used.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

__all__ = [
    "INSTRUCTIONS",
    "PROMPTS_SHA256",
    "PROMPTS_VERSION",
    "SENTENCES",
    "instructions",
    "prompt_set_record",
]

PROMPTS_VERSION: Final = 1

SENTENCES: Final[tuple[str, ...]] = (
    "The old lighthouse keeper climbed the stairs every evening to light the lamp.",
    "A warm cup of tea on a rainy afternoon can lift anyone's mood.",
    "The children built a small wooden raft and floated it down the quiet river.",
    "Our neighbour grows tomatoes, beans and tall yellow sunflowers in her back garden.",
    "The train to the coast was delayed by almost an hour this morning.",
    "He forgot his umbrella at the library and had to walk home in the rain.",
    "Bees carry pollen from flower to flower, which helps many plants produce fruit.",
    "The museum opened a new exhibition about the history of clocks and calendars.",
    "She practised the violin for two hours before the concert on Saturday.",
    "The recipe calls for three eggs, a cup of flour and a pinch of salt.",
    "Snow covered the mountain village, and the roads were closed for two days.",
    "The committee decided to postpone the vote until more information was available.",
    "A good map and a full water bottle are essential for any long hike.",
    "The baker wakes up at four o'clock to prepare bread for the morning customers.",
    "Most of the town's old factories have been turned into apartments and shops.",
    "The cat slept in a patch of sunlight on the kitchen floor all afternoon.",
    "Learning a new language takes patience, practice and a willingness to make mistakes.",
    "The fishermen returned to the harbour with their nets full of silver fish.",
    "Heavy winds knocked down several trees along the road to the school.",
    "The library extended its opening hours during the examination period.",
    "Our teacher explained how volcanoes form where tectonic plates meet.",
    "The small cafe on the corner serves the best pancakes in the city.",
    "After the storm, the sky cleared and a bright rainbow appeared over the hills.",
    "The engineers tested the bridge by driving heavy trucks across it slowly.",
    "Grandfather told us stories about his journey across the ocean as a young man.",
    "The price of apples rose sharply after a late frost damaged the orchards.",
    "A flock of geese flew south in a long V shape over the lake.",
    "The new park has a playground, a pond with ducks and many shady benches.",
    "She wrote a letter to the mayor asking for better street lighting.",
    "The football match ended in a draw after a very exciting second half.",
    "Doctors recommend drinking enough water and getting regular sleep.",
    "The farmer repaired the fence so the sheep could not wander onto the road.",
    "Our flight landed early, so we had time for breakfast before the meeting.",
    "The painter mixed blue and yellow to create the green of the distant forest.",
    "Thousands of people gathered in the square to watch the fireworks at midnight.",
    "The scientist recorded the temperature of the lake every day for a year.",
    "He carefully wrapped the glass vase in newspaper before putting it in the box.",
    "The village holds a market every Thursday where farmers sell fresh vegetables.",
    "Reading before bed helps many people relax after a busy day.",
    "The bus driver waited patiently while an elderly man climbed aboard.",
    "The castle on the hill was built more than eight hundred years ago.",
    "Our team finished the project two days before the deadline.",
    "The dog barked loudly whenever the postman walked up the path.",
    "Strong coffee and fresh croissants were served in the hotel lobby.",
    "The students planted a row of young oak trees behind the school.",
    "A sudden power cut left the whole street in darkness for an hour.",
    "The chef tasted the soup and added a little more pepper.",
    "Whales travel thousands of kilometres each year between feeding and breeding grounds.",
    "The old bicycle needed new tyres and a good cleaning before the trip.",
    "My sister keeps a diary in which she writes a few lines every night.",
    "The orchestra rehearsed the symphony three times before the first performance.",
    "Tourists crowded the narrow streets to see the famous cathedral.",
    "The carpenter measured the wood twice before cutting it.",
    "A thick fog rolled in from the sea and covered the harbour.",
    "The shop on the high street sells second-hand books and old records.",
    "Every spring the river floods the low meadows near the village.",
    "The nurse checked on each patient before the end of her shift.",
    "We packed sandwiches, fruit and lemonade for the picnic by the lake.",
    "The mountain guide warned the climbers about the changing weather.",
    "The town council voted to build a new swimming pool next year.",
    "Owls hunt at night and can turn their heads almost all the way around.",
    "The mechanic found a small leak in the car's cooling system.",
    "Our grandmother knits warm scarves for the whole family every winter.",
    "The astronauts spent six months on the space station studying plant growth.",
)

INSTRUCTIONS: Final[tuple[str, ...]] = (
    "Write the opening line of a story about a lighthouse keeper.",
    "Give a name for a small bakery and say why you chose it.",
    "Describe the smell of rain in one sentence.",
    "Tell me one surprising fact about octopuses.",
    "Suggest a name for a pet turtle.",
    "Write a short motto for a cycling club.",
    "What would you pack for a weekend in the mountains?",
    "Invent a new flavour of ice cream and describe it.",
    "Write a haiku about autumn leaves.",
    "Describe a busy train station in the morning.",
    "Give me a tip for keeping houseplants alive.",
    "Write the first sentence of a letter to a childhood friend.",
    "What is a good way to start learning to paint?",
    "Describe the taste of a ripe mango.",
    "Invent a name for a new board game and explain the goal.",
    "Write a one-sentence review of an imaginary restaurant.",
    "Tell me how a rainbow forms, briefly.",
    "Suggest a title for a mystery novel set on a ship.",
    "Describe a cat waking up from a nap.",
    "What makes a good cup of coffee?",
    "Write a short toast for a friend's birthday.",
    "Describe the view from the top of a tall hill.",
    "Give one piece of advice to someone starting a new job.",
    "Invent a holiday and say how people celebrate it.",
    "Write a limerick about a forgetful wizard.",
    "Describe the sound of the sea at night.",
    "What is something interesting about the moon?",
    "Name three things you might find in an old attic.",
    "Write the first line of a song about a long road.",
    "Describe a perfect picnic.",
    "Suggest a name for a robot that cleans windows.",
    "Tell me a fun fact about honeybees.",
    "Describe a winter morning in a small village.",
    "Write a slogan for a library.",
    "What should a beginner know about growing tomatoes?",
    "Invent a creature that lives in the clouds and describe it.",
    "Write a sentence that uses the words river, clock and orange.",
    "Describe the feeling of finishing a long book.",
    "Give a short explanation of why the sky is blue.",
    "Suggest a weekend activity for a rainy day.",
    "Write a two-line poem about a lost key.",
    "Describe an old market in a busy city.",
    "What is a polite way to decline an invitation?",
    "Invent a sport played on ice and explain one rule.",
    "Write the opening line of a diary entry from a sailor.",
    "Describe the colours of a sunset over the desert.",
    "Give a name to a new species of flower.",
    "Tell me something interesting about whales.",
    "Write a short thank-you note to a neighbour.",
    "Describe a quiet forest path.",
    "Suggest a name for a coffee shop run by cats.",
    "What is the best way to remember a new word?",
    "Write a riddle about a candle.",
    "Describe a thunderstorm seen from a window.",
    "Invent a gadget that helps people wake up and describe it.",
    "Write the first sentence of a fairy tale.",
    "Describe the inside of a clockmaker's workshop.",
    "Give one reason people enjoy gardening.",
    "Suggest a theme for a school science fair.",
    "Write a short description of a friendly dragon.",
    "Describe a bicycle ride along the coast.",
    "What is a simple recipe for a quick breakfast?",
    "Invent a name for a planet and describe its weather.",
    "Write a one-sentence story about a paper boat.",
)


def instructions() -> list[str]:
    """The chat prompts the output mode sends to every model (open requests whose greedy
    replies differ between model families)."""
    return list(INSTRUCTIONS)


PROMPTS_SHA256: Final = hashlib.sha256(
    json.dumps({"sentences": SENTENCES, "instructions": INSTRUCTIONS}).encode()
).hexdigest()


def prompt_set_record(n: int) -> dict[str, object]:
    """What a report says about the prompts it used (the first ``n`` of the set)."""
    return {"version": PROMPTS_VERSION, "sha256": PROMPTS_SHA256, "prompts": n}
