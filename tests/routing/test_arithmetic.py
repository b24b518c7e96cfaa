"""The arithmetic checker flags exactly the equations that do not hold."""

from __future__ import annotations

import pytest

from ragline.routing.arithmetic import ArithmeticCheck, check_arithmetic

RIGHT_GSM8K = """ Janet starts with 16 eggs per day.
She eats 3 for breakfast, so she has 16 - 3 = 13 eggs left.
She uses 4 for baking, so she has 13 - 4 = 9 eggs left.
She sells these 9 eggs at the farmers' market for 9 * $2 = $<<9*2=18>>18.
#### 18"""


def test_a_correct_gsm8k_answer_scores_one() -> None:
    check = check_arithmetic(RIGHT_GSM8K)
    assert check == ArithmeticCheck(expressions=3, wrong=(), score=1.0, final_answer="18")


def test_a_wrong_step_is_flagged_as_written() -> None:
    check = check_arithmetic(RIGHT_GSM8K.replace("13 - 4 = 9", "13 - 4 = 8"))
    assert check.wrong == ("13 - 4 = 8",)
    assert check.expressions == 3
    assert check.score == pytest.approx(2 / 3)


def test_a_wrong_calculator_annotation_is_reported_once() -> None:
    text = ("In a week, she teaches 5 * 75 + 120 = <<5*75+120=675+120=795>>795 students.\n"
            "She makes 795 * $15.00 = $<<795*15=11925>>11,925.\n#### 11925")
    check = check_arithmetic(text)
    assert check.wrong == ("5*75+120=675+120=795",)
    assert check.expressions == 2
    assert check.final_answer == "11925"


@pytest.mark.parametrize("text", [
    "So she has 16 - 3 - 4 = 9 eggs.",
    "The house is worth $80,000 + $50,000 = $130,000 after repairs.",
    "He runs 3 x 60 = 180 meters, then 180 \u00d7 3 = 540 meters a week.",
    "Each gets 8 / 3 = 2.67 gallons, and 10 ÷ 3 = 3.33 pints.",
    "Eight at 8 / 3 = 2.7 each.",
    "She spends 1600 / 60 = 26.67 hours, so 26.67 * 3 = 80 hours in three weeks.",
    "The discount is 20% * $50 = $10, so 100% - 20% = 80% is left.",
    "One quarter is 1/4 * 100 = 25%.",
    "In all (5 + 3) * 2 = 16 apples and 2 ^ 3 = 8 pears.",
    "He pays 84 \\* (5/14) = 30 and \\frac{3}{4} \\times 8 = 6 dollars.",
    "She films 72 minutes/week * 4 weeks = 288 minutes = 288/60 hours = 4.8 hours.",
    "She has 5 + 3 = 8 + 2 = 10 pencils.",
    "It takes 2 bolts of blue fiber + 1 bolt of white fiber = 2 + 1 = 3 bolts.",
    "About 10 / 3 ≈ 3 cakes each.",
    "Negative change: 3 - 5 = -2 degrees.",
    "The sum is 1.5 + 2.25 = 3.75 and 0.1 + 0.2 = 0.3.",
])
def test_right_arithmetic_is_not_flagged(text: str) -> None:
    check = check_arithmetic(text)
    assert check.wrong == ()
    assert check.expressions >= 1
    assert check.score == 1.0


@pytest.mark.parametrize("text, wrong", [
    ("She has 16 - 3 - 4 = 8 eggs.", "16 - 3 - 4 = 8"),
    ("The house is worth $80,000 + $50,000 = $140,000.", "$80,000 + $50,000 = $140,000"),
    ("He runs 3 x 60 = 160 meters.", "3 x 60 = 160"),
    ("Each gets 8 / 3 = 2.76 gallons.", "8 / 3 = 2.76"),
    ("The discount is 20% * $50 = $12.", "20% * $50 = $12"),
    ("In all (5 + 3) * 2 = 13 apples.", "(5 + 3) * 2 = 13"),
    ("Total: <<(47+52+57)/3=53.67>>53.67 points.", "(47+52+57)/3=53.67"),
    ("She pays 5 * ($5.00 * 5 + $6.00) = $125 in all.", "5 * ($5.00 * 5 + $6.00) = $125"),
    ("Then 1500 - 1500/4 = 1375 remain.", "1500 - 1500/4 = 1375"),
    ("That is 40 * 1.25 + 20 * 1.5 = 125 + 30 = 155.", "40 * 1.25 + 20 * 1.5 = 125 + 30 = 155"),
])
def test_wrong_arithmetic_is_flagged(text: str, wrong: str) -> None:
    check = check_arithmetic(text)
    assert check.wrong == (wrong,)
    assert check.score == 0.0


@pytest.mark.parametrize("text", [
    "Let x be Sally's books: 2x + 3 = 21, so 2x = 18 and x = 9.",
    "Now 21 - 3 = 2 * S, so S = 9.",
    "She is on the 3rd floor = 12 steps up.",
    "Then 50 + 20% = 60 dollars.",
    "20 students = 0.20 * 20 = 4 students wear hats.",
    "He works 2 hours * 60 = 120 minutes.",
    "No sums here, only 3 cats and 4 dogs.",
    "The ratio is 3:2 and the year 2023.",
])
def test_what_cannot_be_checked_is_not_counted_as_wrong(text: str) -> None:
    assert check_arithmetic(text).wrong == ()


def test_nothing_to_check_scores_one_and_the_last_number_is_the_answer() -> None:
    check = check_arithmetic("She has 12 apples and eats 2 of them, leaving 10.")
    assert check == ArithmeticCheck(expressions=0, wrong=(), score=1.0, final_answer="10")


@pytest.mark.parametrize("text, answer", [
    ("So 4 + 5 = 9.\n#### 9 apples", "9"),
    ("#### $1,234.50", "1234.5"),
    ("The answer is $18 per day. She is 30 years old.", "18"),
    ("Final answer: \\boxed{42}", "42"),
    ("The temperature is -5 degrees.", "-5"),
    ("It costs .50 dollars.", "0.5"),
    ("There is no number here.", None),
])
def test_final_answer(text: str, answer: str | None) -> None:
    assert check_arithmetic(text).final_answer == answer


def test_odd_input_never_raises() -> None:
    for text in ["", "=", "= = 3", "((((1 + 2 = 3", "1 / 0 = 5", "10 ^ 400 = 1", "<<>>",
                 "<<1/0=3>>", "2 ^ 0.5 = 1.41", "$$ = $", "5 % = 0.05", "9" * 400 + " = 9"]:
        check_arithmetic(text)
